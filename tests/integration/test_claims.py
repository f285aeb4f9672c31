"""The lean claim path: long-poll claims woken by queued tasks, and claims of several tasks at once."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from runplane.store.tables import AuditEventRow, EventRow
from tests.conftest import auth
from tests.support.server import running_server
from tests.support.workers import free, register, submit, task_of

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

WAIT = 20.0
"""A claim's wait in these tests: a claim that returns in well under half of it was woken."""


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    # The periodic re-check is far longer than the wait: only the queued-task notification can end it early.
    return {"reaper_seconds": 0, "claim_recheck_seconds": 60}


async def _claim(client: httpx.AsyncClient, key: str, worker_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(
        f"/v1/workers/{worker_id}/claim", headers=auth(key), json={**free(), **body}, timeout=WAIT + 30
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def _until_waiting(claim: asyncio.Task[Any]) -> None:
    """Lets the claim reach its wait (it holds on an empty queue); it must not have answered yet."""
    for _ in range(50):
        await asyncio.sleep(0.02)
    assert not claim.done(), claim.result()


async def test_a_waiting_claim_answers_as_soon_as_a_task_is_submitted(client, worker_key, user_key):
    worker_id = await register(client, worker_key)
    claim = asyncio.ensure_future(_claim(client, worker_key, worker_id, wait_seconds=WAIT))
    await _until_waiting(claim)
    submitted = time.monotonic()
    task_id = await submit(client, user_key)
    answer = await asyncio.wait_for(claim, WAIT + 30)
    assert time.monotonic() - submitted < WAIT / 2
    assert answer == {"assignment": answer["assignment"]}  # no `assignments` unless max_tasks is named
    assert answer["assignment"]["task_id"] == task_id
    assert (await task_of(client, user_key, task_id))["status"] == "preparing"


async def test_a_waiting_claim_with_nothing_to_take_answers_none_when_the_wait_ends(client, worker_key):
    worker_id = await register(client, worker_key)
    asked = time.monotonic()
    answer = await _claim(client, worker_key, worker_id, wait_seconds=1.5, max_tasks=2)
    assert time.monotonic() - asked >= 1.5
    assert answer == {"assignments": []}  # nothing to take: no `assignment`


async def test_a_task_that_does_not_fit_does_not_end_the_wait_early(client, worker_key, user_key):
    worker_id = await register(client, worker_key)
    claim = asyncio.ensure_future(_claim(client, worker_key, worker_id, wait_seconds=2, free_cpu=1))
    await _until_waiting(claim)
    big = await submit(client, user_key, "big", cpu=4)
    answer = await claim
    assert answer == {}  # nothing to take: no `assignment`
    assert (await task_of(client, user_key, big))["status"] == "queued"


async def test_a_claim_takes_as_many_tasks_as_fit_together(client, worker_key, user_key):
    worker_id = await register(client, worker_key)
    ids = [await submit(client, user_key, f"job-{i}", cpu=2) for i in range(4)]
    # Cores for two of them, though slots and max_tasks would allow three.
    first = await _claim(client, worker_key, worker_id, max_tasks=3, free_slots=3, free_cpu=4)
    taken = [a["task_id"] for a in first["assignments"]]
    assert taken == ids[:2]
    assert first["assignment"] == first["assignments"][0]
    # Slots bound it too: one slot left, one task, however many cores.
    second = await _claim(client, worker_key, worker_id, max_tasks=3, free_slots=1, free_cpu=64)
    assert [a["task_id"] for a in second["assignments"]] == [ids[2]]
    for task_id in ids[:3]:
        task = await task_of(client, user_key, task_id)
        assert (task["status"], task["worker_id"]) == ("preparing", worker_id)
    assert (await task_of(client, user_key, ids[3]))["status"] == "queued"


async def test_draining_ends_a_waiting_claim_at_once(client, worker_key, admin_key, user_key):
    worker_id = await register(client, worker_key)
    claim = asyncio.ensure_future(
        client.post(
            f"/v1/workers/{worker_id}/claim",
            headers=auth(worker_key),
            json={**free(), "wait_seconds": WAIT},
            timeout=WAIT + 30,
        )
    )
    await _until_waiting(claim)
    drained = await client.delete(f"/v1/scheduler/workers/{worker_id}", headers=auth(admin_key))
    assert drained.status_code < 300, drained.text
    asked = time.monotonic()
    answer = await asyncio.wait_for(claim, WAIT + 30)
    assert time.monotonic() - asked < WAIT / 2
    # No task: draining (200, no assignment) or, running nothing, already offline (409), as the claim saw it.
    if answer.status_code == 200:
        assert answer.json() == {}  # nothing to take: no `assignment`
    else:
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"] == "The worker was drained and is offline; it takes no more work"
    task_id = await submit(client, user_key)
    assert (await task_of(client, user_key, task_id))["status"] == "queued"


@pytest.mark.slow
def test_a_task_submitted_through_one_process_wakes_claims_waiting_in_another(
    tmp_path: Path, database_url: str
) -> None:
    """A real `runplane serve --workers 2`: claims and submits spread over both processes."""
    env = {"RUNPLANE_DATABASE_URL": database_url, "RUNPLANE_CLAIM_RECHECK_SECONDS": "60"}
    with running_server(tmp_path / "server", workers=2, env=env) as server:
        asyncio.run(_wake_across_processes(server.base_url, server.admin_key))


async def _wake_across_processes(base_url: str, admin_key: str) -> None:
    async def new_key(role: str) -> str:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            created = await http.post(
                "/v1/keys", headers=auth(admin_key), json={"name": f"{role}-{os.getpid()}", "role": role}
            )
            assert created.status_code == 201, created.text
            return str(created.json()["key"])

    worker_key, user_key = await new_key("worker"), await new_key("user")
    count = 6

    async def wait_for_one(index: int) -> tuple[str, float]:
        # A connection of its own per claim: gunicorn hands connections to either process.
        async with httpx.AsyncClient(base_url=base_url, timeout=WAIT + 30) as http:
            worker_id = await register(http, worker_key, name=f"w{index}")
            answer = await _claim(http, worker_key, worker_id, wait_seconds=WAIT)
            assert "assignment" in answer, answer
            return str(answer["assignment"]["task_id"]), time.monotonic()

    claims = [asyncio.ensure_future(wait_for_one(index)) for index in range(count)]
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        # Every claim registered and waiting before the first submit.
        for _ in range(600):
            listed = await http.get("/v1/scheduler/workers", headers=auth(admin_key))
            if listed.json()["total"] == count:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        assert not any(claim.done() for claim in claims)
        submitted = time.monotonic()
        ids = []
        for index in range(count):
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as own:  # a connection each
                ids.append(await submit(own, user_key, f"job-{index}"))
    answers = await asyncio.wait_for(asyncio.gather(*claims), WAIT + 30)
    assert sorted(task_id for task_id, _ in answers) == sorted(ids)
    assert max(at for _, at in answers) - submitted < WAIT / 2


@pytest.mark.parametrize("settings_overrides", [{"reaper_seconds": 0, "claim_max_wait_seconds": 0.5}])
async def test_the_server_holds_a_claim_no_longer_than_its_limit(client, worker_key):
    worker_id = await register(client, worker_key)
    asked = time.monotonic()
    answer = await _claim(client, worker_key, worker_id, wait_seconds=WAIT)
    assert time.monotonic() - asked < WAIT / 2
    assert answer == {}  # nothing to take: no `assignment`


async def test_a_waiting_claim_whose_agent_hung_up_takes_nothing(app, client, worker_key, user_key):
    """An agent killed while its long poll waits leaves the connection closed: a task queued afterwards
    goes to a live worker, not to the dead one's claim (where it would wait for the lease to run out)."""
    worker_id = await register(client, worker_key)
    hung_up = asyncio.Event()
    body = json.dumps({**free(), "wait_seconds": WAIT}).encode()
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await hung_up.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    path = f"/v1/workers/{worker_id}/claim"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"x-api-key", worker_key.encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50003),
        "server": ("testserver", 80),
    }
    claim = asyncio.ensure_future(app(scope, receive, send))
    await _until_waiting(claim)
    hung_up.set()
    task_id = await submit(client, user_key)  # wakes the waiting claim
    await asyncio.wait_for(claim, WAIT / 2)
    assert (await task_of(client, user_key, task_id))["status"] == "queued"
    answer = await _claim(client, worker_key, worker_id)
    assert answer["assignment"]["task_id"] == task_id


async def test_a_claim_of_several_records_each_tasks_event_and_audit_entry_in_order(
    client, worker_key, user_key, admin_key, db
):
    """The claimed tasks' `task_update` events and `job_assigned` audit entries are written as one batch:
    one of each per task, in the claim's order, and the audit chain still verifies."""
    worker_id = await register(client, worker_key)
    ids = [await submit(client, user_key, f"job-{i}") for i in range(3)]
    answer = await _claim(client, worker_key, worker_id, max_tasks=3, free_slots=3)
    assert [a["task_id"] for a in answer["assignments"]] == ids
    async with db.reader() as session:
        updates = (
            await session.execute(
                select(EventRow.task_id, EventRow.data)
                .where(EventRow.topic == "task_update", EventRow.task_id.in_(ids))
                .order_by(EventRow.id)
            )
        ).all()
        assigned = (
            await session.execute(
                select(AuditEventRow.metadata_)
                .where(AuditEventRow.event_type == "job_assigned")
                .order_by(AuditEventRow.seq)
            )
        ).scalars()
        assigned_ids = [metadata["task_id"] for metadata in assigned]
    claimed = [(task_id, data) for task_id, data in updates if data["status"] == "preparing"]
    assert [task_id for task_id, _ in claimed] == ids
    assert all(
        data
        == {"task_id": task_id, "status": "preparing", "previous_status": "queued", "worker_id": worker_id}
        for task_id, data in claimed
    )
    assert assigned_ids == ids
    verified = await client.post("/v1/audit/verify", headers=auth(admin_key))
    assert verified.status_code == 200 and verified.json()["valid"] is True, verified.text
