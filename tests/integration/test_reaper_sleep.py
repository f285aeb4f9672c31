"""The reaper's tick: a cheap probe first, a full pass only when it has work, and otherwise a sleep until
the earliest lease ends (woken sooner by this process's commits), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from runplane.workers import WorkerManager
from tests.support.workers import claimed_id, end_lease, register, submit, task_of

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

LONGEST = 60.0


async def test_an_idle_reaper_sleeps_until_the_earliest_lease_ends(
    client, worker_key, user_key, db, manager: WorkerManager
):
    # Nothing at all: the longest sleep.
    assert await manager.reap_if_due(longest=LONGEST) == LONGEST
    worker_id = await register(client, worker_key)
    lease = manager.settings.lease_seconds
    sleep = await manager.reap_if_due(longest=LONGEST)
    assert sleep is not None and 0 < sleep <= lease + 0.01  # until the lease could end, no pass
    task_id = await submit(client, user_key, max_retries=1)
    assert await claimed_id(client, worker_key, worker_id) == task_id
    sleep = await manager.reap_if_due(longest=LONGEST)
    assert sleep is not None and sleep <= lease + 0.01  # a running task on a live worker: nothing to do
    await end_lease(db, worker_id)
    assert await manager.reap_if_due(longest=LONGEST) is None  # due: the pass ran
    task = await task_of(client, user_key, task_id)
    assert task["status"] == "queued" and task["retry_count"] == 1


async def test_a_queued_task_makes_the_pass_due(client, user_key, manager: WorkerManager):
    """Its waiting reason is the pass's to write (here: no worker at all could run it)."""
    task_id = await submit(client, user_key, gpu=1)
    assert await manager.reap_if_due(longest=LONGEST) is None
    assert (await task_of(client, user_key, task_id))["message"].startswith("Waiting")


async def test_a_draining_worker_makes_the_pass_due(
    client, worker_key, user_key, admin_key, manager: WorkerManager
):
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    assert await claimed_id(client, worker_key, worker_id) == task_id
    answer = await client.delete(f"/v1/scheduler/workers/{worker_id}", headers={"X-API-Key": admin_key})
    assert answer.status_code < 300, answer.text
    # Still draining (it runs the task): each tick runs the pass, which ends the drain once it is idle.
    assert await manager.reap_if_due(longest=LONGEST) is None


class TestTheLoop:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        # The app's own reaper, ticking often, with leases short enough to run out during the test.
        return {"reaper_seconds": 0.05, "lease_seconds": 5.0}

    async def test_a_lost_workers_task_is_requeued_by_the_sleeping_reaper(self, client, worker_key, user_key):
        task_id = await submit(client, user_key, max_retries=1)
        worker_id = await register(client, worker_key)
        assert await claimed_id(client, worker_key, worker_id) == task_id
        # The worker never heartbeats: once its lease ends the reaper, asleep until then, takes it back.
        async with asyncio.timeout(30):
            # The state is in the database, not in an event of this process: polled.
            while (task := await task_of(client, user_key, task_id))["status"] == "preparing":  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert task["status"] == "queued" and task["retry_count"] == 1
