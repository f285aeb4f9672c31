"""Bulk changes of tasks write the same audit and live events as one task's change, in the same
transaction: a sweep's creation (job_queued per task), a sweep's cancel (job_cancelled and task_update per
queued task) and a reservation's end; batches appended by `append_many` keep the chain gap-free beside
concurrent single appenders in other processes. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from runplane.audit import AuditLog
from runplane.store.audit import AuditStore
from runplane.store.tables import EventRow
from tests.conftest import auth
from tests.support.worker_flow import FakeWorker

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

REPO_ROOT = Path(__file__).resolve().parents[2]
TASK = {"job_name": "train", "entrypoint": "python train.py", "args": ["--shard", "{shard}"]}


async def audit_events(client: Any, admin_key: str, event_type: str) -> list[dict[str, Any]]:
    response = await client.get(
        "/v1/audit/events", headers=auth(admin_key), params={"event_type": event_type, "limit": 1000}
    )
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


async def live_updates(db: Any, task_ids: set[str], status: str) -> set[str]:
    """The tasks among `task_ids` with a task_update event to `status` in the event log."""
    async with db.reader() as session:
        rows = (await session.execute(select(EventRow).where(EventRow.topic == "task_update"))).scalars()
        return {row.task_id for row in rows if row.task_id in task_ids and row.data["status"] == status}


async def test_a_sweeps_tasks_are_audited_when_created_and_cancelled(client, db, admin_key, user_key):
    response = await client.post(
        "/v1/sweeps", headers=auth(user_key), json={"task": TASK, "grid": {"shard": list(range(25))}}
    )
    assert response.status_code == 201, response.text
    sweep_id = response.json()["id"]
    listed = await client.get(
        "/v1/tasks", headers=auth(user_key), params={"sweep_id": sweep_id, "limit": 100}
    )
    ids = {task["id"] for task in listed.json()["tasks"]}
    assert len(ids) == 25

    queued = [e for e in await audit_events(client, admin_key, "job_queued") if e["resource"][5:] in ids]
    assert {e["resource"] for e in queued} == {f"task/{task_id}" for task_id in ids}
    assert all(e["user_id"] == "alice" and e["metadata"]["job_name"] == "train" for e in queued)
    assert await live_updates(db, ids, "queued") == ids

    assert (await client.delete(f"/v1/sweeps/{sweep_id}", headers=auth(user_key))).status_code == 200
    cancelled = await audit_events(client, admin_key, "job_cancelled")
    assert {e["resource"] for e in cancelled} == {f"task/{task_id}" for task_id in ids}
    assert all(e["metadata"]["cancelled_by"] == "alice" and not e["success"] for e in cancelled)
    assert await live_updates(db, ids, "cancelled") == ids

    verified = (await client.post("/v1/audit/verify", headers=auth(admin_key))).json()
    assert verified["valid"] is True
    seqs = [e["sequence_num"] for e in await audit_events(client, admin_key, "job_queued")]
    assert seqs == sorted(seqs) and seqs == list(range(seqs[0], seqs[0] + 25))  # one contiguous batch


async def test_a_reservation_ending_audits_the_queued_tasks_it_cancels(
    client, db, admin_key, user_key, worker_key
):
    await FakeWorker(client, worker_key).register()  # no claims: its task stays queued
    made = await client.post(
        "/v1/scheduler/reservations",
        headers=auth(user_key),
        json={"gpu_count": 0, "cpu": 2, "memory_gb": 4, "expires_minutes": 60},
    )
    assert made.status_code == 201, made.text
    reservation_id = made.json()["id"]
    submitted = await client.post(
        "/v1/tasks",
        headers=auth(user_key),
        json={**TASK, "args": [], "cpu": 1, "reservation_id": reservation_id},
    )
    assert submitted.status_code == 201, submitted.text
    task_id = submitted.json()["id"]
    ended = await client.delete(f"/v1/scheduler/reservations/{reservation_id}", headers=auth(user_key))
    assert ended.status_code in (200, 204), ended.text
    assert [e["resource"] for e in await audit_events(client, admin_key, "job_cancelled")] == [
        f"task/{task_id}"
    ]
    assert await live_updates(db, {task_id}, "cancelled") == {task_id}


APPENDER = """
import asyncio, sys
from runplane.audit import AuditEntry
from runplane.store.audit import AuditStore, append_many
from runplane.store.database import Database

async def main(url, name, count):
    db = Database(url)
    store = AuditStore(db)
    async def single(n):
        await store.record(AuditEntry(event_type="file_access", action="download", resource=f"{name}/{n}"))
    async def batch(n):
        async with db.session() as session:
            await append_many(session, [
                AuditEntry(event_type="file_access", action="download", resource=f"{name}/{n}/{k}")
                for k in range(7)
            ])
    # Singles and batches of 7 interleaved, four connections per process at once.
    for start in range(0, count, 4):
        await asyncio.gather(*((batch if n % 2 else single)(n) for n in range(start, min(start + 4, count))))
    await db.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


@pytest.mark.slow
async def test_batches_and_single_appends_from_many_processes_leave_a_gap_free_chain(database_url, db):
    processes, per_process = 3, 16
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", APPENDER, database_url, f"p{n}", str(per_process), cwd=REPO_ROOT
        )
        for n in range(processes)
    ]
    for child in children:
        assert await asyncio.wait_for(child.wait(), 300) == 0
    expected = processes * (per_process // 2) * (1 + 7)
    async with db.reader() as session:
        seqs = [row[0] for row in (await session.execute(text("SELECT seq FROM audit_events ORDER BY seq")))]
    assert seqs == list(range(1, expected + 1))
    result = await AuditLog(AuditStore(db)).verify()
    assert result.valid and result.total_events == expected
