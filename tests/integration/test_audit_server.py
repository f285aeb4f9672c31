"""The audit chain under several API processes at once (two gunicorn workers) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import auth
from tests.support.live import DEADLINE, Live, live_server, module_database

pytestmark = [pytest.mark.integration, pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp(f"audit-{request.param}")
    with module_database(request, root) as database_url, live_server(root, database_url, workers=2) as server:
        yield server


async def _events(http: httpx.AsyncClient, admin: str, **params: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        response = await http.get(
            "/v1/audit/events", headers=auth(admin), params={**params, "limit": 1000, "offset": len(events)}
        )
        assert response.status_code == 200, response.text
        page = response.json()["events"]
        events.extend(page)
        if len(page) < 1000:
            return events


async def test_concurrent_requests_to_two_processes_leave_a_gap_free_chain(live: Live):
    async with httpx.AsyncClient(base_url=live.base_url, timeout=DEADLINE) as http:

        async def submit(n: int) -> str:
            key = live.alice if n % 2 else live.bob
            response = await http.post(
                "/v1/tasks", headers=auth(key), json={"job_name": f"j{n}", "entrypoint": "true"}
            )
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

        async def refused(n: int) -> None:
            response = await http.get("/v1/tasks", headers=auth(f"rp_wrong-{n:04d}-" + "x" * 30))
            assert response.status_code == 401

        results = await asyncio.gather(*(submit(n) for n in range(40)), *(refused(n) for n in range(10)))
        task_ids = [result for result in results if result is not None]
        events = await _events(http, live.admin)
        assert [e["sequence_num"] for e in events] == list(range(1, len(events) + 1))
        queued = {e["metadata"]["task_id"] for e in events if e["event_type"] == "job_queued"}
        assert queued == set(task_ids)
        assert sum(e["event_type"] == "auth_attempt" for e in events) == 10
        verified = await http.post("/v1/audit/verify", headers=auth(live.admin))
        assert verified.status_code == 200
        assert verified.json()["valid"] is True and verified.json()["total_events"] == len(events)
