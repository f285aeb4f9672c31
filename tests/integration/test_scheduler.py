"""Scheduling: atomic claims, priority with aging, resource fit, leases and recovery, drains."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select, update

from runplane.store.tables import EventRow, TaskRow, WorkerRow
from tests.conftest import auth
from tests.support.errors import assert_error
from tests.support.workers import (
    H100,
    age_task,
    claim,
    claimed_id,
    end_lease,
    heartbeat,
    register,
    report,
    submit,
    task_of,
)

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

# The reaper runs when a test says so (manager.reap()), not on its own clock.
MANUAL_REAPER: dict[str, Any] = {"reaper_seconds": 0}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(MANUAL_REAPER)


async def test_concurrent_claims_take_each_task_exactly_once(client, worker_key, user_key, db):
    workers = [await register(client, worker_key, f"w{n}", slots=8) for n in range(5)]
    tasks = [await submit(client, user_key, f"t{n}") for n in range(10)]

    async def one_claim(worker_id: str) -> tuple[str, str | None]:
        assignment = await claim(client, worker_key, worker_id)
        return worker_id, assignment["task_id"] if assignment else None

    results = await asyncio.gather(*(one_claim(workers[n % 5]) for n in range(20)))
    claimed = [task_id for _, task_id in results if task_id is not None]
    assert sorted(claimed) == sorted(tasks)  # every task once, none twice
    assert len([task_id for _, task_id in results if task_id is None]) == 10
    async with db.reader() as session:
        rows = (await session.execute(select(TaskRow.id, TaskRow.status, TaskRow.worker_id))).all()
    assert {row.id: row.status for row in rows} == dict.fromkeys(tasks, "preparing")
    assert {row.id: row.worker_id for row in rows} == {
        task_id: worker_id for worker_id, task_id in results if task_id
    }
    async with db.reader() as session:
        events = (
            await session.execute(
                select(EventRow.task_id).where(
                    EventRow.topic == "task_update", EventRow.data["status"].as_string() == "preparing"
                )
            )
        ).all()
    assert Counter(task_id for (task_id,) in events) == Counter(tasks)


async def test_highest_priority_first_and_fifo_within_a_priority(client, worker_key, user_key):
    worker_id = await register(client, worker_key)
    low = await submit(client, user_key, "low", priority=2)
    first_high = await submit(client, user_key, "high-1", priority=8)
    mid = await submit(client, user_key, "mid", priority=5)
    second_high = await submit(client, user_key, "high-2", priority=8)
    order = [await claimed_id(client, worker_key, worker_id) for _ in range(4)]
    assert order == [first_high, second_high, mid, low]
    assert await claim(client, worker_key, worker_id) is None


@pytest.mark.parametrize(
    "settings_overrides", [{**MANUAL_REAPER, "aging_rate": 10.0, "aging_max_boost": 5.0}], ids=["fast-aging"]
)
async def test_aging_lets_a_long_waiting_task_overtake(client, worker_key, user_key, db):
    old_low = await submit(client, user_key, "old-low", priority=2)
    high = await submit(client, user_key, "high", priority=5)
    before = (await task_of(client, user_key, old_low))["priority_aged"]
    assert 2 <= before < 3
    await age_task(db, old_low, minutes=1)  # 10 points a minute, capped at +5
    after = (await task_of(client, user_key, old_low))["priority_aged"]
    assert after == 7.0
    assert 5 <= (await task_of(client, user_key, high))["priority_aged"] < 7
    worker_id = await register(client, worker_key)
    assert await claimed_id(client, worker_key, worker_id) == old_low
    assert await claimed_id(client, worker_key, worker_id) == high
    # Once claimed, a task's priority_aged is its plain priority.
    assert (await task_of(client, user_key, old_low))["priority_aged"] == 2.0


async def test_a_task_goes_only_where_it_fits(client, worker_key, user_key, manager, db):
    big = await submit(client, user_key, "big", cpu=16, priority=9)
    gpu = await submit(client, user_key, "gpu", gpu=1, priority=9)
    a100 = await submit(client, user_key, "a100", gpu=1, gpu_type="A100", priority=9)
    small = await submit(client, user_key, "small", cpu=2, memory_gb=4, priority=1)

    await manager.reap()
    waiting = {
        task_id: (await task_of(client, user_key, task_id))["message"] for task_id in (big, gpu, a100, small)
    }
    assert waiting == dict.fromkeys((big, gpu, a100, small), "Waiting: no active worker is registered")

    cpu_worker = await register(client, worker_key, "cpu-1", cpu=8, memory_gb=32)
    # Free resources count: with 1 core free nothing fits; with 4 the small task does (the others never).
    assert await claim(client, worker_key, cpu_worker, cpu=1) is None
    assert await claim(client, worker_key, cpu_worker, slots=0) is None
    assert await claimed_id(client, worker_key, cpu_worker, cpu=4, memory_gb=8) == small
    assert await claim(client, worker_key, cpu_worker) is None

    report_ = await manager.reap()
    assert report_.waiting_messages == 3
    messages = {
        task_id: (await task_of(client, user_key, task_id))["message"] for task_id in (big, gpu, a100)
    }
    assert messages == {
        big: "Waiting: no active worker has 16 CPU core(s)",
        gpu: "Waiting: no active worker has 1 GPU(s)",
        a100: "Waiting: no active worker has 1 A100 GPU(s)",
    }
    status = (await client.get(f"/v1/tasks/{gpu}/status", headers=auth(user_key))).json()
    assert (status["status"], status["message"]) == ("queued", "Waiting: no active worker has 1 GPU(s)")
    assert (await manager.reap()).waiting_messages == 0  # unchanged reasons are not rewritten
    # Each reason that changed went out as its task's progress event (live views show why it waits).
    async with db.reader() as session:
        found = await session.execute(
            select(EventRow.task_id, EventRow.data).where(EventRow.topic == "task_progress")
        )
        told = [(task_id, data["message"]) for task_id, data in found]
    assert sorted(told) == sorted(
        [(task_id, "Waiting: no active worker is registered") for task_id in (big, gpu, a100, small)]
        + list(messages.items())
    )

    gpu_worker = await register(client, worker_key, "gpu-1", cpu=8, memory_gb=32, gpus=[H100])
    await manager.reap()
    assert (await task_of(client, user_key, gpu))["message"] == "Queued"
    assert (await task_of(client, user_key, a100))["message"] == "Waiting: no active worker has 1 A100 GPU(s)"
    # No free GPU right now: nothing; one free: the task asking for any GPU (the A100 one never matches).
    assert await claim(client, worker_key, gpu_worker, gpus=0) is None
    assert await claimed_id(client, worker_key, gpu_worker, gpus=1) == gpu
    assert await claim(client, worker_key, gpu_worker, gpus=1) is None

    h100 = await submit(client, user_key, "h100", gpu=1, gpu_type="h100")
    assert await claim(client, worker_key, cpu_worker, gpus=1) is None  # a CPU worker has no such GPU
    assert await claimed_id(client, worker_key, gpu_worker, gpus=1) == h100
    multi = await submit(client, user_key, "multi", node_count=2)
    assert await claim(client, worker_key, gpu_worker, gpus=1) is None
    await manager.reap()
    assert (await task_of(client, user_key, multi))["message"] == (
        # A gang (runplane.gang): both workers could take a part, only one has room for it now.
        "Waiting: for 2 workers with a free slot and 1 CPU core(s), 1 GB at the same moment; 1 can take a part now"
    )


async def _run_until_lost(client, worker_key, user_key, db, manager, **task: Any) -> tuple[str, str]:
    worker_id = await register(client, worker_key, "w1")
    task_id = await submit(client, user_key, **task)
    await claim(client, worker_key, worker_id)
    await report(client, worker_key, worker_id, task_id, status="running", progress=30)
    await end_lease(db, worker_id)
    return worker_id, task_id


async def test_a_lost_workers_task_is_requeued_and_runs_again(
    client, worker_key, user_key, admin_key, db, manager
):
    worker_id, task_id = await _run_until_lost(client, worker_key, user_key, db, manager, max_retries=1)
    second = await register(client, worker_key, "w2")
    reaped = await manager.reap()
    assert (reaped.lost_workers, reaped.requeued, reaped.failed) == ([worker_id], [task_id], [])
    task = await task_of(client, user_key, task_id)
    assert {
        key: task.get(key)
        for key in ("status", "retry_count", "worker_id", "progress", "message", "started_at")
    } == {
        "status": "queued",
        "retry_count": 1,
        "worker_id": None,
        "progress": 0.0,
        "message": "Requeued after worker w1 was lost",
        "started_at": None,
    }
    worker = (await client.get(f"/v1/scheduler/workers/{worker_id}", headers=auth(admin_key))).json()
    assert worker["status"] == "offline"
    # A second pass finds nothing more to do.
    again = await manager.reap()
    assert (again.lost_workers, again.requeued, again.failed) == ([], [], [])
    # The lost worker's late report is refused; another worker runs the task again.
    late = await report(client, worker_key, worker_id, task_id, status="collecting")
    assert late.status_code == 409
    assignment = await claim(client, worker_key, second)
    assert assignment is not None
    assert (assignment["task_id"], assignment["attempt"]) == (task_id, 2)
    for status in ("running", "collecting", "completed"):
        assert (await report(client, worker_key, second, task_id, status=status)).status_code == 200
    task = await task_of(client, user_key, task_id)
    assert (task["status"], task["retry_count"], task["worker_id"]) == ("completed", 1, second)


async def test_a_lost_workers_task_fails_when_no_retries_are_left(client, worker_key, user_key, db, manager):
    worker_id, task_id = await _run_until_lost(client, worker_key, user_key, db, manager, max_retries=0)
    reaped = await manager.reap()
    assert (reaped.lost_workers, reaped.requeued, reaped.failed) == ([worker_id], [], [task_id])
    task = await task_of(client, user_key, task_id)
    message = "Worker w1 was lost after 1 attempt(s); no retries left (max_retries 0)"
    assert (task["status"], task["retry_count"], task["progress"]) == ("failed", 0, 30.0)
    assert task["failure"] == {
        "reason": "worker_lost",
        "message": message,
    }
    assert task["ended_at"] is not None
    async with db.reader() as session:
        topics = (
            await session.scalars(
                select(EventRow.topic).where(EventRow.worker_id == worker_id).order_by(EventRow.id)
            )
        ).all()
    assert topics[-3:] == ["worker_status", "task_update", "task_complete"]


async def test_a_lost_task_that_was_being_cancelled_ends_cancelled(client, worker_key, user_key, db, manager):
    _, task_id = await _run_until_lost(client, worker_key, user_key, db, manager, max_retries=3)
    assert (await client.delete(f"/v1/tasks/{task_id}", headers=auth(user_key))).status_code == 202
    reaped = await manager.reap()
    assert reaped.cancelled == [task_id]
    task = await task_of(client, user_key, task_id)
    assert (task["status"], task["failure"]["reason"], task["failure"]["cancelled_by"]) == (
        "cancelled",
        "cancelled",
        "alice",
    )


async def test_a_task_claimed_for_an_offline_worker_is_recovered(client, worker_key, user_key, db, manager):
    """The instant race: a claim lands just as the reaper marks its worker offline."""
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key, max_retries=1)
    await claim(client, worker_key, worker_id)
    async with db.session() as session:
        await session.execute(update(WorkerRow).where(WorkerRow.id == worker_id).values(status="offline"))
    reaped = await manager.reap()
    assert (reaped.lost_workers, reaped.requeued) == ([], [task_id])
    assert (await task_of(client, user_key, task_id))["status"] == "queued"


@pytest.mark.parametrize(
    "settings_overrides", [{"lease_seconds": 2.0, "reaper_seconds": 0.05}], ids=["short-lease"]
)
async def test_the_background_reaper_requeues_without_help(client, worker_key, user_key):
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key, max_retries=2)
    assert await claimed_id(client, worker_key, worker_id) == task_id
    deadline = time.monotonic() + 15
    while True:
        task = await task_of(client, user_key, task_id)
        if task["status"] == "queued":
            break
        assert time.monotonic() < deadline, task
        await asyncio.sleep(0.05)
    assert task["retry_count"] == 1
    # The pass that requeues it also explains the wait: no worker is left.
    assert task["message"] in ("Requeued after worker w1 was lost", "Waiting: no active worker is registered")
    assert (await heartbeat(client, worker_key, worker_id)).status_code == 409


async def test_drain_finishes_the_work_then_goes_offline(client, worker_key, user_key, admin_key, manager):
    worker_id = await register(client, worker_key)
    running = await submit(client, user_key)
    await claim(client, worker_key, worker_id)
    await report(client, worker_key, worker_id, running, status="running")
    waiting = await submit(client, user_key)

    drained = await client.delete(f"/v1/scheduler/workers/{worker_id}", headers=auth(admin_key))
    assert drained.status_code == 204
    assert (
        await client.delete(f"/v1/scheduler/workers/{worker_id}", headers=auth(admin_key))
    ).status_code == 204
    view = (await client.get(f"/v1/scheduler/workers/{worker_id}", headers=auth(admin_key))).json()
    assert (view["status"], view["active_tasks"]) == ("draining", [running])
    assert await claim(client, worker_key, worker_id) is None  # takes nothing new
    assert (await task_of(client, user_key, waiting))["status"] == "queued"
    beat = await heartbeat(client, worker_key, worker_id, [running])
    assert (beat.json()["status"], beat.json()["cancel_task_ids"]) == ("draining", [])
    await manager.reap()
    assert (await client.get(f"/v1/scheduler/workers/{worker_id}", headers=auth(admin_key))).json()[
        "status"
    ] == ("draining")
    status = (await client.get("/v1/scheduler/status", headers=auth(admin_key))).json()
    assert (status["workers_active"], status["workers_draining"], status["tasks_running"]) == (0, 1, 1)

    for step in ("collecting", "completed"):
        assert (await report(client, worker_key, worker_id, running, status=step)).status_code == 200
    reaped = await manager.reap()
    assert reaped.drained_workers == [worker_id]
    view = (await client.get(f"/v1/scheduler/workers/{worker_id}", headers=auth(admin_key))).json()
    assert (view["status"], view["active_tasks"]) == ("offline", [])
    # The drained agent is told it is offline (it stops; it is not told to register again).
    beat = await heartbeat(client, worker_key, worker_id)
    assert beat.status_code == 200
    assert beat.json()["status"] == "offline"
    assert (
        await client.delete(f"/v1/scheduler/workers/{worker_id}", headers=auth(admin_key))
    ).status_code == 204
    assert (await task_of(client, user_key, waiting))["status"] == "queued"


async def test_an_idle_worker_goes_offline_as_soon_as_it_is_drained(client, worker_key, admin_key):
    worker_id = await register(client, worker_key)
    assert (
        await client.delete(f"/v1/scheduler/workers/{worker_id}", headers=auth(admin_key))
    ).status_code == 204
    view = (await client.get(f"/v1/scheduler/workers/{worker_id}", headers=auth(admin_key))).json()
    assert view["status"] == "offline"
    listed = (await client.get("/v1/scheduler/workers?status=offline", headers=auth(admin_key))).json()
    assert [worker["id"] for worker in listed["workers"]] == [worker_id]
    claim_ = await client.post(
        f"/v1/workers/{worker_id}/claim",
        headers=auth(worker_key),
        json={"free_slots": 1, "free_cpu": 1, "free_memory_gb": 1, "free_gpus": 0},
    )
    assert_error(
        claim_,
        409,
        "CONFLICT",
        "The worker was drained and is offline; it takes no more work",
        {
            "worker_id": worker_id,
            "status": "offline",
            "lease_expires_at": claim_.json()["details"]["lease_expires_at"],
        },
    )


async def test_queue_and_status_count_real_state(client, worker_key, user_key, admin_key):
    first = await register(client, worker_key, "w1")
    await register(client, worker_key, "w2")
    tasks = [await submit(client, user_key) for _ in range(3)]
    await claim(client, worker_key, first)
    await report(client, worker_key, first, tasks[0], status="running")
    queue = (await client.get("/v1/queue", headers=auth(user_key))).json()
    assert (queue["queued"], queue["running"], queue["workers"]) == (2, 1, 2)
    status = (await client.get("/v1/scheduler/status", headers=auth(user_key))).json()
    assert (status["workers_total"], status["batch_queue_depth"], status["tasks_running"]) == (2, 2, 1)
