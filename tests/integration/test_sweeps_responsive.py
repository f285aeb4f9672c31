"""A big sweep's cancel and results table keep the API answering (issue 11: 10,000-task sweeps first-class),
on both databases.

The cancel of N queued tasks builds N audit entries and 2N live events in Python. These tests prove by
ORDERING, not by timing, that the event loop serves other requests in the middle of that work: a /healthz
request sent while the DELETE runs is answered after some but not all of the DELETE's audit entries were
built, and a bare loop ticker sees the count of built entries between 0 and N. A DELETE that built its
batch in one synchronous go (as before) lets neither see an intermediate count.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runplane import audit
from tests.conftest import auth

pytestmark = [pytest.mark.integration, pytest.mark.anyio, pytest.mark.slow]

TASKS = 3000  # six chunks of the bulk writes (runplane.store.sweeps.CHUNK, runplane.store.audit._CHUNK)
TASK = {"job_name": "shard", "entrypoint": "python scan.py", "args": ["--shard", "{shard}"]}


async def big_sweep(client: Any, key: str) -> str:
    response = await client.post(
        "/v1/sweeps", headers=auth(key), json={"task": TASK, "grid": {"shard": list(range(TASKS))}}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_the_api_answers_while_a_big_sweep_is_cancelled(client, user_key, admin_key, monkeypatch):
    sweep_id = await big_sweep(client, user_key)
    built = 0
    real_fields = audit.AuditEntry.fields

    def counted(self: audit.AuditEntry) -> dict[str, Any]:
        nonlocal built
        if self.event_type == audit.JOB_CANCELLED:
            built += 1
        return real_fields(self)

    monkeypatch.setattr(audit.AuditEntry, "fields", counted)
    done = asyncio.Event()
    ticks: list[int] = []  # the count of built entries each time the loop ran the ticker
    health: list[int] = []  # ... and each time a /healthz answer arrived

    async def ticker() -> None:
        while not done.is_set():
            ticks.append(built)
            await asyncio.sleep(0.001)  # not sleep(0): the same starvation

    async def prober() -> None:
        while not done.is_set():
            response = await client.get("/healthz")
            assert response.status_code == 200
            health.append(built)
            # Paced, as a client polls: a prober that never waits would starve the database driver's
            # thread of the GIL (the DELETE then never ends, whatever its code).
            await asyncio.sleep(0.005)

    async def cancel() -> dict[str, Any]:
        try:
            response = await client.delete(f"/v1/sweeps/{sweep_id}", headers=auth(user_key))
        finally:
            done.set()
        assert response.status_code == 200, response.text
        return dict(response.json())

    answer, _, _ = await asyncio.gather(cancel(), ticker(), prober())
    assert answer == {"sweep_id": sweep_id, "cancelled": TASKS, "stopping": 0}
    assert built == TASKS  # one job_cancelled entry per task, as before
    assert any(0 < count < TASKS for count in ticks), sorted(set(ticks))
    assert any(0 < count < TASKS for count in health), sorted(set(health))

    # Every task's cancel is in the audit log, and the sweep reads as cancelled.
    events = await client.get(
        "/v1/audit/events", headers=auth(admin_key), params={"event_type": "job_cancelled", "limit": 1}
    )
    assert events.status_code == 200 and events.json()["total"] == TASKS
    sweep = (await client.get(f"/v1/sweeps/{sweep_id}", headers=auth(user_key))).json()
    assert sweep["counts"]["cancelled"] == TASKS and sweep["cancelled_at"]


async def test_a_big_results_table_after_the_cancel(client, user_key, admin_key):
    sweep_id = await big_sweep(client, user_key)
    response = await client.delete(f"/v1/sweeps/{sweep_id}", headers=auth(user_key))
    assert response.status_code == 200 and response.json()["cancelled"] == TASKS
    events = await client.get(
        "/v1/audit/events", headers=auth(admin_key), params={"event_type": "job_cancelled", "limit": 1}
    )
    assert events.status_code == 200 and events.json()["total"] == TASKS
    verified = await client.post("/v1/audit/verify", headers=auth(admin_key))
    assert verified.status_code == 200 and verified.json()["valid"] is True, verified.text

    table = (await client.get(f"/v1/sweeps/{sweep_id}/results", headers=auth(user_key))).json()
    assert len(table["rows"]) == TASKS and table["metrics"] == [] and table["metrics_omitted"] == 0
    assert [row["variation"]["shard"] for row in table["rows"]] == list(range(TASKS))
    assert {row["status"] for row in table["rows"]} == {"cancelled"}
    assert all(row["summary"] == {} and row["trial"] == 1 for row in table["rows"])
