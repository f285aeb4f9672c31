"""The worker operations: register, heartbeat, claim and report, with their rules and whole answers."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from runplane.settings import Settings
from runplane.store.tables import EventRow, TaskRow, WorkerRow
from tests.conftest import _new_key, auth
from tests.support.errors import assert_error
from tests.support.workers import (
    Recent,
    claim,
    claimed_id,
    end_lease,
    heartbeat,
    register,
    registration,
    report,
    submit,
    task_of,
)

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    # The reaper runs when the tests say so (manager.reap()), not on its own clock.
    return {"reaper_seconds": 0}


@pytest.fixture
async def other_worker_key(settings: Settings) -> str:
    return await _new_key(settings, "worker", "worker-2")


async def test_register_returns_a_lease_and_the_worker_is_listed(client, worker_key, admin_key, user_key):
    gpu = {"index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_mb": 81559, "uuid": "GPU-abc"}
    response = await client.post(
        "/v1/workers", headers=auth(worker_key), json=registration("gpu-1", cpu=16, memory_gb=64, gpus=[gpu])
    )
    assert response.status_code == 201, response.text
    lease = response.json()
    worker_id = lease["worker_id"]
    assert lease == {
        "worker_id": worker_id,
        "lease_seconds": 30.0,
        "heartbeat_seconds": 5.0,
        "lease_expires_at": Recent(offset=30, tolerance=5),
    }
    expected = {
        "id": worker_id,
        "name": "gpu-1",
        "hostname": "gpu-1.example",
        "address": "gpu-1.example",  # none registered: its hostname
        "status": "active",
        "version": "1.2.3",
        "capabilities": {"cpu_cores": 16, "memory_gb": 64.0, "gpus": [gpu]},
        "gpu_count": 1,
        "gpu_type": "NVIDIA H100 80GB HBM3",
        "slots": {"total": 2, "available": 2},
        "active_tasks": [],
        "connected_at": Recent(),
        "last_heartbeat": Recent(),
        "lease_expires_at": lease["lease_expires_at"],
    }
    for key in (admin_key, user_key):
        fetched = await client.get(f"/v1/scheduler/workers/{worker_id}", headers=auth(key))
        assert fetched.status_code == 200
        assert fetched.json() == expected
    listed = await client.get("/v1/scheduler/workers", headers=auth(admin_key))
    assert listed.json() == {"workers": [expected], "total": 1, "limit": 50, "offset": 0}
    none_offline = await client.get("/v1/scheduler/workers?status=offline", headers=auth(admin_key))
    assert none_offline.json() == {"workers": [], "total": 0, "limit": 50, "offset": 0}
    status = await client.get("/v1/scheduler/status", headers=auth(user_key))
    assert status.json() == {
        "workers_total": 1,
        "workers_active": 1,
        "workers_draining": 0,
        "workers_offline": 0,
        "batch_queue_depth": 0,
        "tasks_running": 0,
        "tasks_completed_24h": 0,
        "tasks_failed_24h": 0,
        "timestamp": Recent(),
    }
    queue = await client.get("/v1/queue", headers=auth(user_key))
    assert queue.json()["workers"] == 1


async def test_a_whole_run_through_the_worker_operations(client, worker_key, user_key, admin_key, db):
    worker_id = await register(client, worker_key, "w1")
    task_id = await submit(
        client,
        user_key,
        "train",
        args=["--epochs", "3"],
        env={"MODE": "fast"},
        secrets={"WANDB_API_KEY": "wandb-888"},
        random_seed=7,
        timeout_seconds=600,
        cpu=2,
        memory_gb=4,
    )
    claimed = await client.post(
        f"/v1/workers/{worker_id}/claim",
        headers=auth(worker_key),
        json={"free_slots": 2, "free_cpu": 8, "free_memory_gb": 32, "free_gpus": 0},
    )
    assert claimed.status_code == 200
    assert claimed.json() == {
        "assignment": {
            "task_id": task_id,
            "attempt": 1,
            "job_name": "train",
            "entrypoint": "python train.py",
            "args": ["--epochs", "3"],
            "inputs": {},
            "dataset_specs": [],
            "cpu": 2,
            "memory_gb": 4.0,
            "gpu": 0,
            "timeout_seconds": 600,
            "env": {"MODE": "fast"},
            "secrets": {"WANDB_API_KEY": "wandb-888"},
            "random_seed": 7,
            "kind": "task",
        }
    }
    task = await task_of(client, user_key, task_id)
    assert (task["status"], task["worker_id"], task["message"]) == (
        "preparing",
        worker_id,
        "Preparing on worker w1",
    )
    worker = (await client.get(f"/v1/scheduler/workers/{worker_id}", headers=auth(admin_key))).json()
    assert (worker["active_tasks"], worker["slots"]) == ([task_id], {"total": 2, "available": 1})
    # Nothing else is queued.
    assert await claim(client, worker_key, worker_id) is None

    beat = await heartbeat(client, worker_key, worker_id, [task_id])
    assert beat.status_code == 200
    assert beat.json() == {
        "status": "active",
        "lease_expires_at": Recent(offset=30, tolerance=5),
        "cancel_task_ids": [],
    }

    running = await report(client, worker_key, worker_id, task_id, status="running")
    assert running.status_code == 200
    assert running.json() == {"status": "running", "progress": 0.0, "cancel_requested": False}
    progressed = await report(client, worker_key, worker_id, task_id, progress=40, message="epoch 2/3")
    assert progressed.json() == {"status": "running", "progress": 40.0, "cancel_requested": False}
    # Progress never goes down; a repeated state only records progress and message.
    lower = await report(client, worker_key, worker_id, task_id, status="running", progress=10)
    assert lower.json() == {"status": "running", "progress": 40.0, "cancel_requested": False}
    status = (await client.get(f"/v1/tasks/{task_id}/status", headers=auth(user_key))).json()
    assert status == {
        "task_id": task_id,
        "status": "running",
        "progress": 40.0,
        "message": "epoch 2/3",
        "started_at": Recent(),
        "updated_at": Recent(),
    }

    collecting = await report(client, worker_key, worker_id, task_id, status="collecting", progress=90)
    assert collecting.json() == {"status": "collecting", "progress": 90.0, "cancel_requested": False}
    completed = await report(client, worker_key, worker_id, task_id, status="completed", exit_code=0)
    assert completed.json() == {"status": "completed", "progress": 100.0, "cancel_requested": False}
    # The agent may repeat its final report (its answer was lost): same answer.
    again = await report(client, worker_key, worker_id, task_id, status="completed")
    assert again.json() == {"status": "completed", "progress": 100.0, "cancel_requested": False}
    status = (await client.get(f"/v1/tasks/{task_id}/status", headers=auth(user_key))).json()
    assert status == {
        "task_id": task_id,
        "status": "completed",
        "progress": 100.0,
        "message": "Completed",
        "started_at": Recent(),
        "updated_at": Recent(),
        "ended_at": Recent(),
    }
    late = await report(client, worker_key, worker_id, task_id, status="running")
    assert_error(
        late,
        409,
        "CONFLICT",
        "Task already completed",
        {"task_id": task_id, "status": "completed", "requested": "running"},
    )
    worker = (await client.get(f"/v1/scheduler/workers/{worker_id}", headers=auth(admin_key))).json()
    assert (worker["active_tasks"], worker["slots"]) == ([], {"total": 2, "available": 2})
    scheduler = (await client.get("/v1/scheduler/status", headers=auth(admin_key))).json()
    assert (scheduler["tasks_completed_24h"], scheduler["tasks_running"]) == (1, 0)

    async with db.reader() as session:
        rows = (
            await session.scalars(select(EventRow).where(EventRow.task_id == task_id).order_by(EventRow.id))
        ).all()
    assert [(row.topic, row.data.get("status"), row.data.get("progress")) for row in rows] == [
        ("task_update", "queued", None),
        ("task_update", "preparing", None),
        ("task_update", "running", None),
        ("task_progress", None, 40.0),
        ("task_progress", None, 40.0),
        ("task_update", "collecting", None),
        ("task_update", "completed", None),
        ("task_complete", "completed", None),
    ]
    assert rows[1].data == {
        "task_id": task_id,
        "status": "preparing",
        "previous_status": "queued",
        "worker_id": worker_id,
    }
    assert rows[-1].data["duration_seconds"] >= 0
    assert {row.user_id for row in rows} == {"alice"}


async def _audit_types(client, admin_key: str, task_id: str) -> list[str]:
    response = await client.get("/v1/audit/events", headers=auth(admin_key), params={"limit": 1000})
    assert response.status_code == 200, response.text
    events = response.json()["events"]
    return [e["event_type"] for e in events if e["metadata"].get("task_id") == task_id]


async def _task_events(db, task_id: str) -> list[tuple[str, str | None, str | None]]:
    async with db.reader() as session:
        rows = (
            await session.scalars(select(EventRow).where(EventRow.task_id == task_id).order_by(EventRow.id))
        ).all()
    return [(row.topic, row.data.get("status"), row.data.get("previous_status")) for row in rows]


async def test_a_task_without_outputs_ends_from_running_with_its_events_and_audit(
    client, db, worker_key, user_key, admin_key
):
    """Issue 11 §2: today's agent sends no `preparing` (the claim made the task preparing) and no
    `collecting` when it has nothing to upload: queued → preparing → running → completed, two reports."""
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    assert await claimed_id(client, worker_key, worker_id) == task_id
    running = await report(client, worker_key, worker_id, task_id, status="running")
    assert running.json() == {"status": "running", "progress": 0.0, "cancel_requested": False}
    completed = await report(client, worker_key, worker_id, task_id, status="completed")
    assert completed.json() == {"status": "completed", "progress": 100.0, "cancel_requested": False}
    status = (await client.get(f"/v1/tasks/{task_id}/status", headers=auth(user_key))).json()
    assert status == {
        "task_id": task_id,
        "status": "completed",
        "progress": 100.0,
        "message": "Completed",
        "started_at": Recent(),
        "updated_at": Recent(),
        "ended_at": Recent(),
    }
    assert await _task_events(db, task_id) == [
        ("task_update", "queued", None),
        ("task_update", "preparing", "queued"),
        ("task_update", "running", "preparing"),
        ("task_update", "completed", "running"),
        ("task_complete", "completed", None),
    ]
    assert await _audit_types(client, admin_key, task_id) == [
        "job_queued",
        "job_assigned",
        "job_started",
        "job_completed",
    ]
    # The finish hook ran as after `collecting`: the run record is among the task's artifacts.
    listed = await client.get(f"/v1/tasks/{task_id}/artifacts", headers=auth(user_key))
    assert listed.status_code == 200, listed.text
    assert "run.json" in listed.text


async def test_an_older_agents_preparing_and_collecting_reports_are_still_accepted(
    client, db, worker_key, user_key, admin_key
):
    """An agent from before issue 11 §2 reports `preparing` (already the task's state: only its message
    is recorded) and `collecting` even without outputs: the same end, the same audit."""
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    assert await claimed_id(client, worker_key, worker_id) == task_id
    preparing = await report(client, worker_key, worker_id, task_id, status="preparing", message="preparing")
    assert preparing.json() == {"status": "preparing", "progress": 0.0, "cancel_requested": False}
    assert (await task_of(client, user_key, task_id))["message"] == "preparing"
    for step in ("running", "collecting", "completed"):
        answer = await report(client, worker_key, worker_id, task_id, status=step)
        assert answer.status_code == 200 and answer.json()["status"] == step, answer.text
    assert await _task_events(db, task_id) == [
        ("task_update", "queued", None),
        ("task_update", "preparing", "queued"),
        ("task_progress", None, None),
        ("task_update", "running", "preparing"),
        ("task_update", "collecting", "running"),
        ("task_update", "completed", "collecting"),
        ("task_complete", "completed", None),
    ]
    assert await _audit_types(client, admin_key, task_id) == [
        "job_queued",
        "job_assigned",
        "job_started",
        "job_completed",
    ]


async def test_a_failed_run_records_its_reason(client, worker_key, user_key):
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    await claim(client, worker_key, worker_id)
    await report(client, worker_key, worker_id, task_id, status="running")
    failed = await report(client, worker_key, worker_id, task_id, status="failed", exit_code=3, progress=55)
    assert failed.json() == {"status": "failed", "progress": 55.0, "cancel_requested": False}
    task = await task_of(client, user_key, task_id)
    assert task["failure"] == {
        "reason": "exit_code",
        "message": "exited with code 3",
        "exit_code": 3,
    }
    # The status message says how it ended, not the last progress text.
    assert (task["status"], task["message"], task["ended_at"] is not None) == (
        "failed",
        "Failed: exited with code 3",
        True,
    )

    other = await submit(client, user_key)
    await claim(client, worker_key, worker_id)
    timed_out = await report(
        client,
        worker_key,
        worker_id,
        other,
        status="failed",
        failure_reason="timeout",
        message="took too long",
    )
    assert timed_out.status_code == 200
    assert (await task_of(client, user_key, other))["failure"] == {
        "reason": "timeout",
        "message": "took too long",
    }


async def test_reports_that_break_the_rules(client, worker_key, user_key):
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    await claim(client, worker_key, worker_id)
    skipped = await report(client, worker_key, worker_id, task_id, status="completed")
    assert_error(
        skipped,
        409,
        "CONFLICT",
        "A preparing task cannot become completed",
        {"task_id": task_id, "status": "preparing", "requested": "completed"},
    )
    unasked = await report(client, worker_key, worker_id, task_id, status="cancelled")
    assert_error(
        unasked,
        409,
        "CONFLICT",
        "Nobody asked to cancel this task",
        {"task_id": task_id, "status": "preparing"},
    )
    misplaced = await report(
        client, worker_key, worker_id, task_id, status="running", failure_reason="timeout"
    )
    assert_error(
        misplaced,
        400,
        "VALIDATION_ERROR",
        "'failure_reason' goes with status 'failed'",
        {"field": "failure_reason"},
    )
    cancel_as_failure = await report(
        client, worker_key, worker_id, task_id, status="failed", failure_reason="cancelled"
    )
    assert_error(
        cancel_as_failure,
        400,
        "VALIDATION_ERROR",
        "A cancelled task is reported with status 'cancelled'",
        {"field": "failure_reason"},
    )
    empty = await report(client, worker_key, worker_id, task_id)
    assert empty.status_code == 400
    assert empty.json()["code"] == "VALIDATION_ERROR"
    assert (await task_of(client, user_key, task_id))["status"] == "preparing"


async def test_a_worker_acts_only_as_itself(client, worker_key, other_worker_key, user_key, admin_key):
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    assert await claimed_id(client, worker_key, worker_id) == task_id
    for response in (
        await heartbeat(client, other_worker_key, worker_id),
        await client.post(
            f"/v1/workers/{worker_id}/claim",
            headers=auth(other_worker_key),
            json={"free_slots": 1, "free_cpu": 1, "free_memory_gb": 1, "free_gpus": 0},
        ),
        await report(client, other_worker_key, worker_id, task_id, status="running"),
    ):
        assert_error(response, 404, "NOT_FOUND", "Worker not found", {"worker_id": worker_id})

    # Another worker (of another key) may not report on this worker's task.
    other_id = await register(client, other_worker_key, "w2")
    stolen = await report(client, other_worker_key, other_id, task_id, status="running")
    assert_error(
        stolen,
        409,
        "CONFLICT",
        "This task is not assigned to this worker",
        {"task_id": task_id, "worker_id": other_id},
    )
    unknown = await report(client, worker_key, worker_id, "nope", status="running")
    assert_error(unknown, 404, "NOT_FOUND", "Task not found", {"task_id": "nope"})
    unknown_worker = await heartbeat(client, worker_key, "nope")
    assert_error(unknown_worker, 404, "NOT_FOUND", "Worker not found", {"worker_id": "nope"})

    # Only worker keys may call worker operations; only admins drain.
    for key in (user_key, admin_key):
        denied = await client.post("/v1/workers", headers=auth(key), json=registration())
        assert denied.status_code == 403
        assert denied.json()["code"] == "FORBIDDEN"
    for key in (user_key, worker_key):
        denied = await client.delete(f"/v1/scheduler/workers/{worker_id}", headers=auth(key))
        assert denied.status_code == 403
    missing = await client.get("/v1/scheduler/workers/nope", headers=auth(admin_key))
    assert_error(missing, 404, "NOT_FOUND", "Worker not found", {"worker_id": "nope"})
    missing_drain = await client.delete("/v1/scheduler/workers/nope", headers=auth(admin_key))
    assert_error(missing_drain, 404, "NOT_FOUND", "Worker not found", {"worker_id": "nope"})


async def test_a_late_heartbeat_renews_until_the_reaper_declares_the_worker_lost(
    client, worker_key, user_key, db, manager
):
    worker_id = await register(client, worker_key)
    await end_lease(db, worker_id)
    # The lease ran out, but the worker is not lost until the reaper says so: a heartbeat (or a claim)
    # the server was slow to serve still renews it.
    late = await heartbeat(client, worker_key, worker_id)
    assert late.status_code == 200, late.text
    assert late.json()["status"] == "active"
    assert datetime.fromisoformat(late.json()["lease_expires_at"]) > datetime.now(UTC)
    await end_lease(db, worker_id)
    await manager.reap()
    for response in (
        await heartbeat(client, worker_key, worker_id),
        await client.post(
            f"/v1/workers/{worker_id}/claim",
            headers=auth(worker_key),
            json={"free_slots": 1, "free_cpu": 1, "free_memory_gb": 1, "free_gpus": 0},
        ),
    ):
        assert response.status_code == 409, response.text
        body = response.json()
        assert body["error"] == "The worker was declared lost (its lease ran out); register again"
        assert body["details"] == {
            "worker_id": worker_id,
            "status": "offline",
            "lease_expires_at": body["details"]["lease_expires_at"],
        }
    # Registering again gives a fresh worker that works.
    again = await register(client, worker_key)
    assert again != worker_id
    assert (await heartbeat(client, worker_key, again)).status_code == 200


async def test_any_request_of_the_worker_renews_its_lease(client, worker_key, user_key, db, manager):
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    await claim(client, worker_key, worker_id)
    calls = [
        lambda: report(client, worker_key, worker_id, task_id, status="running"),
        lambda: client.post(
            f"/v1/workers/{worker_id}/tasks/{task_id}/logs",
            headers=auth(worker_key),
            json={"attempt": 1, "first_line": 0, "lines": [{"stream": "stdout", "text": "hi"}]},
        ),
        lambda: client.post(
            f"/v1/workers/{worker_id}/tasks/{task_id}/artifacts",
            headers={**auth(worker_key), "Content-Type": "application/octet-stream"},
            params={"path": "a.txt", "sha256": hashlib.sha256(b"a").hexdigest()},
            content=b"a",
        ),
        lambda: client.post(
            f"/v1/workers/{worker_id}/claim",
            headers=auth(worker_key),
            json={"free_slots": 1, "free_cpu": 1, "free_memory_gb": 1, "free_gpus": 0},
        ),
    ]
    for call in calls:
        await end_lease(db, worker_id)
        response = await call()
        assert response.status_code < 300, response.text
        async with db.reader() as session:
            row = await session.get(WorkerRow, worker_id, populate_existing=True)
        assert row is not None and row.lease_expires_at > datetime.now(UTC), response.request.url
    # Renewed, so the reaper finds nothing to take back.
    assert (await manager.reap()).lost_workers == []


async def test_a_report_of_the_current_attempt_counts_after_the_lease_ran_out(
    client, worker_key, user_key, db, manager
):
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    await claim(client, worker_key, worker_id)
    await report(client, worker_key, worker_id, task_id, status="running", attempt=1)
    # The worker is declared lost, but the reaper has not taken the task back yet (same pass, later step).
    await end_lease(db, worker_id)
    lost = await manager.store.mark_lost(now=datetime.now(UTC))
    assert [row.id for row in lost] == [worker_id]
    await report(client, worker_key, worker_id, task_id, status="collecting", attempt=1)
    done = await report(client, worker_key, worker_id, task_id, status="completed", attempt=1)
    assert done.status_code == 200, done.text
    task = await task_of(client, user_key, task_id)
    assert (task["status"], task["retry_count"], task["message"]) == ("completed", 0, "Completed")
    # Nothing left to take back: the finished work does not run again.
    assert (await manager.reap()).requeued == []


async def test_a_report_of_an_attempt_that_is_over_is_409(client, worker_key, user_key, db, manager):
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key, max_retries=2)
    await claim(client, worker_key, worker_id)
    await end_lease(db, worker_id)
    assert (await manager.reap()).requeued == [task_id]
    again = await register(client, worker_key, "w2")
    assignment = await claim(client, worker_key, again)
    assert assignment is not None and assignment["attempt"] == 2
    old = await report(client, worker_key, again, task_id, status="running", attempt=1)
    assert_error(
        old,
        409,
        "CONFLICT",
        "Attempt 1 is over: the task is on attempt 2",
        {"task_id": task_id, "attempt": 1, "current_attempt": 2},
    )
    stale_logs = await client.post(
        f"/v1/workers/{again}/tasks/{task_id}/logs",
        headers=auth(worker_key),
        json={"attempt": 1, "first_line": 0, "lines": [{"stream": "stdout", "text": "old"}]},
    )
    assert stale_logs.status_code == 409, stale_logs.text
    assert (await report(client, worker_key, again, task_id, status="running", attempt=2)).status_code == 200


async def test_a_completed_task_says_completed_not_its_last_progress_text(client, worker_key, user_key):
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    await claim(client, worker_key, worker_id)
    await report(client, worker_key, worker_id, task_id, status="running")
    await report(client, worker_key, worker_id, task_id, progress=90, message="C=10.0 acc=0.96")
    assert (await task_of(client, user_key, task_id))["message"] == "C=10.0 acc=0.96"
    await report(client, worker_key, worker_id, task_id, status="collecting")
    await report(client, worker_key, worker_id, task_id, status="completed")
    assert (await task_of(client, user_key, task_id))["message"] == "Completed"


async def test_a_user_sees_only_its_own_task_ids_on_a_worker(
    client, worker_key, user_key, other_user_key, admin_key
):
    worker_id = await register(client, worker_key)
    mine = await submit(client, user_key)
    theirs = await submit(client, other_user_key)
    await claim(client, worker_key, worker_id)
    await claim(client, worker_key, worker_id)

    def active(body: dict) -> list[str]:
        return sorted(body["active_tasks"])

    as_admin = (await client.get(f"/v1/scheduler/workers/{worker_id}", headers=auth(admin_key))).json()
    assert active(as_admin) == sorted([mine, theirs])
    for key, own in ((user_key, mine), (other_user_key, theirs)):
        one = (await client.get(f"/v1/scheduler/workers/{worker_id}", headers=auth(key))).json()
        listed = (await client.get("/v1/scheduler/workers", headers=auth(key))).json()["workers"]
        assert active(one) == [own]
        assert [active(w) for w in listed if w["id"] == worker_id] == [[own]]
        # Both slots are busy, whoever's tasks fill them.
        assert one["slots"] == {"total": 2, "available": 0}


async def test_cancel_a_running_task(client, worker_key, user_key, other_user_key):
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    await claim(client, worker_key, worker_id)
    await report(client, worker_key, worker_id, task_id, status="running")

    theirs = await client.delete(f"/v1/tasks/{task_id}", headers=auth(other_user_key))
    assert theirs.status_code == 404
    cancel = await client.delete(f"/v1/tasks/{task_id}", headers=auth(user_key))
    assert cancel.status_code == 202
    assert cancel.content == b""
    assert (await client.delete(f"/v1/tasks/{task_id}", headers=auth(user_key))).status_code == 202
    task = await task_of(client, user_key, task_id)
    assert (task["status"], task["message"], "failure" in task) == (
        "running",
        "Cancellation requested",
        False,
    )

    beat = await heartbeat(client, worker_key, worker_id, [task_id])
    assert beat.json()["cancel_task_ids"] == [task_id]
    progress = await report(client, worker_key, worker_id, task_id, progress=20)
    assert progress.json() == {"status": "running", "progress": 20.0, "cancel_requested": True}
    cancelled = await report(client, worker_key, worker_id, task_id, status="cancelled", exit_code=-15)
    assert cancelled.json() == {"status": "cancelled", "progress": 20.0, "cancel_requested": True}
    task = await task_of(client, user_key, task_id)
    assert task["status"] == "cancelled"
    assert task["failure"] == {
        "reason": "cancelled",
        "message": "Cancelled by alice",
        "exit_code": -15,
        "cancelled_by": "alice",
    }
    assert task["ended_at"] is not None
    after = await client.delete(f"/v1/tasks/{task_id}", headers=auth(user_key))
    assert_error(after, 409, "CONFLICT", "Task already cancelled", {"status": "cancelled"})
    assert (await heartbeat(client, worker_key, worker_id, [task_id])).json()["cancel_task_ids"] == [task_id]


async def test_a_queued_task_is_still_cancelled_at_once(client, user_key):
    task_id = await submit(client, user_key)
    response = await client.delete(f"/v1/tasks/{task_id}", headers=auth(user_key))
    assert response.status_code == 204
    assert (await task_of(client, user_key, task_id))["status"] == "cancelled"


async def test_heartbeat_names_tasks_that_are_no_longer_the_workers(client, worker_key, user_key, db):
    worker_id = await register(client, worker_key)
    mine = await submit(client, user_key)
    await claim(client, worker_key, worker_id)
    finished = await submit(client, user_key)
    await claim(client, worker_key, worker_id)
    await report(client, worker_key, worker_id, finished, status="failed", exit_code=1)
    beat = await heartbeat(client, worker_key, worker_id, [mine, finished, "ghost"])
    assert beat.json()["cancel_task_ids"] == sorted([finished, "ghost"])


async def test_a_claim_the_worker_never_heard_of_goes_back_to_the_queue(client, worker_key, user_key, db):
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key, max_retries=2)
    await claim(client, worker_key, worker_id)  # say its answer was lost on the way
    # Within a lease of the claim, a heartbeat that does not hold the task leaves it alone...
    await heartbeat(client, worker_key, worker_id, [])
    assert (await task_of(client, user_key, task_id))["status"] == "preparing"
    # ...after that it is taken back.
    async with db.session() as session:
        await session.execute(
            update(TaskRow)
            .where(TaskRow.id == task_id)
            .values(updated_at=datetime.now(UTC) - timedelta(seconds=60))
        )
    beat = await heartbeat(client, worker_key, worker_id, [])
    assert beat.json()["cancel_task_ids"] == []
    task = await task_of(client, user_key, task_id)
    assert "worker_id" not in task
    assert (task["status"], task.get("worker_id"), task["retry_count"], task["message"]) == (
        "queued",
        None,
        1,
        "Requeued after worker w1 no longer holds it",
    )


async def test_a_log_batch_sent_again_is_stored_once_and_a_gap_is_marked(client, worker_key, user_key):
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    await claim(client, worker_key, worker_id)

    async def send(first_line: int, *texts: str) -> None:
        response = await client.post(
            f"/v1/workers/{worker_id}/tasks/{task_id}/logs",
            headers=auth(worker_key),
            json={
                "attempt": 1,
                "first_line": first_line,
                "lines": [{"stream": "stdout", "text": text} for text in texts],
            },
        )
        assert response.status_code == 204, response.text

    await send(0, "one", "two")
    await send(0, "one", "two")  # its answer was lost: sent again
    await send(1, "two", "three")  # overlaps what is stored
    await send(5, "six")  # lines 4 and 5 never arrived
    logs = await client.get(f"/v1/tasks/{task_id}/logs", headers=auth(user_key))
    assert logs.text == (
        "one\ntwo\nthree\n"
        "[runplane] 2 line(s) of output (lines 4-5 of this attempt) were not delivered by the worker\n"
        "six\n"
    )


async def test_a_restarted_agent_is_listed_once_and_its_old_registration_stays_readable(
    client, worker_key, other_worker_key, user_key, admin_key, db, manager
):
    """An agent that restarts registers again (same name and hostname, same key's user) under a new id.

    Its old row, once offline, is replaced: left out of the list and the counts by default, listed with
    `include_replaced`, and still readable by id (with `replaced_by`), since its task keeps naming it.
    """
    first = await register(client, worker_key, "gpu-1")
    task_id = await submit(client, user_key)
    assert await claimed_id(client, worker_key, first) == task_id
    # A worker that went away for good (never registered again) stays listed as offline.
    gone = await register(client, worker_key, "gpu-2")
    # The same name on another host, and the same name under another worker key's user, are other agents.
    elsewhere = await client.post(
        "/v1/workers", headers=auth(worker_key), json={**registration("gpu-1"), "hostname": "other.example"}
    )
    assert elsewhere.status_code == 201
    theirs = await register(client, other_worker_key, "gpu-1")

    # The agent restarts before its old lease ended: both rows are live, both listed.
    second = await register(client, worker_key, "gpu-1")
    listed = await client.get("/v1/scheduler/workers", headers=auth(admin_key))
    assert {worker["id"] for worker in listed.json()["workers"]} == {
        first,
        second,
        gone,
        elsewhere.json()["worker_id"],
        theirs,
    }
    for worker_id in (first, gone, elsewhere.json()["worker_id"], theirs):
        await end_lease(db, worker_id)
    await manager.reap()

    listed = await client.get("/v1/scheduler/workers", headers=auth(admin_key))
    assert listed.status_code == 200
    body = listed.json()
    assert [(worker["id"], worker["status"]) for worker in body["workers"]] == [
        (second, "active"),
        (theirs, "offline"),
        (elsewhere.json()["worker_id"], "offline"),
        (gone, "offline"),
    ]
    assert body["total"] == 4
    assert all("replaced_by" not in worker for worker in body["workers"])
    offline = await client.get("/v1/scheduler/workers?status=offline", headers=auth(admin_key))
    assert {worker["id"] for worker in offline.json()["workers"]} == {
        theirs,
        elsewhere.json()["worker_id"],
        gone,
    }
    status = (await client.get("/v1/scheduler/status", headers=auth(user_key))).json()
    assert (status["workers_total"], status["workers_active"], status["workers_offline"]) == (4, 1, 3)

    everything = await client.get("/v1/scheduler/workers?include_replaced=true", headers=auth(admin_key))
    rows = {worker["id"]: worker for worker in everything.json()["workers"]}
    assert everything.json()["total"] == 5
    assert rows[first]["status"] == "offline" and rows[first]["replaced_by"] == second
    offline_all = await client.get(
        "/v1/scheduler/workers?status=offline&include_replaced=true", headers=auth(admin_key)
    )
    assert offline_all.json()["total"] == 4

    # History stays: the old id is readable, and the task taken back from it still names it.
    old = await client.get(f"/v1/scheduler/workers/{first}", headers=auth(user_key))
    assert old.status_code == 200
    assert old.json()["status"] == "offline" and old.json()["replaced_by"] == second
    task = await task_of(client, user_key, task_id)
    assert task["status"] == "failed" and task["failure"]["reason"] == "worker_lost"
    assert task["worker_id"] == first
    # The replaced registration cannot come back: it is lost, and the agent works as its new one.
    assert (await heartbeat(client, worker_key, first)).status_code == 409
    assert (await heartbeat(client, worker_key, second)).status_code == 200
