"""Retries: the task's retry policy on failures and lost workers, backoff, and POST /v1/tasks/{id}/retry
with each attempt's logs, artifacts and run identity kept (runplane.retries), through the API on both
databases with fake worker reports."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import update

from runplane.store.tables import TaskRow, utcnow
from tests.conftest import auth
from tests.support.worker_flow import FakeWorker
from tests.support.workers import Recent, claim, end_lease, register, report, submit, task_of

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def refused(response: httpx.Response, status: int) -> None:
    """The uniform error body with `status` (404 NOT_FOUND or 409 CONFLICT)."""
    assert response.status_code == status, response.text
    assert response.json()["code"] == {404: "NOT_FOUND", 409: "CONFLICT"}[status]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"reaper_seconds": 0}  # reaper passes run when a test says so


async def _fail(worker: FakeWorker, task_id: str, exit_code: int, **extra: Any) -> dict[str, Any]:
    """Claims the task and reports it running, then failed with `exit_code`; the report's answer."""
    await worker.start(task_id)
    return await worker.report(task_id, status="failed", exit_code=exit_code, **extra)


async def test_an_exit_code_in_the_list_retries_until_max_retries_then_fails(client, worker_key, user_key):
    task_id = await submit(client, user_key, max_retries=2, retry_on_exit_codes=[3])
    # retry_on (default ["worker_lost"]) need not name exit_code: the listed codes retry by themselves.
    assert "exit_code" not in (await task_of(client, user_key, task_id))["retry_on"]
    worker = await FakeWorker(client, worker_key).register()
    for attempt in (1, 2):
        await _fail(worker, task_id, 3)
        assert worker.attempts[task_id] == attempt
        task = await task_of(client, user_key, task_id)
        assert {
            key: task.get(key)
            for key in ("status", "retry_count", "attempt", "failure", "progress", "worker_id", "not_before")
        } == {
            "status": "queued",
            "retry_count": attempt,
            "attempt": attempt + 1,
            "failure": None,
            "progress": 0.0,
            "worker_id": None,
            "not_before": None,
        }
        # Unset fields are omitted from answers, never null.
        assert not {"failure", "worker_id", "not_before"} & set(task)
        assert task["message"] == f"Retrying after exited with code 3 (attempt {attempt + 1} of 3)"
    await _fail(worker, task_id, 3)
    assert worker.attempts[task_id] == 3
    task = await task_of(client, user_key, task_id)
    assert (task["status"], task["retry_count"], task["attempt"]) == ("failed", 2, 3)
    assert task["failure"]["reason"] == "exit_code"
    assert task["failure"]["exit_code"] == 3
    assert [
        (entry["attempt"], entry["status"], entry["failure_reason"], entry["exit_code"], entry["worker_id"])
        for entry in task["attempts"]
    ] == [(n, "failed", "exit_code", 3, worker.worker_id) for n in (1, 2, 3)]
    assert all(entry["started_at"] and entry["ended_at"] for entry in task["attempts"])
    assert task["attempts"][0]["failure_message"] == "exited with code 3"


async def test_a_failure_the_policy_does_not_name_fails_at_once(client, worker_key, user_key):
    worker = await FakeWorker(client, worker_key).register()
    other_code = await submit(client, user_key, max_retries=2, retry_on_exit_codes=[3])
    await _fail(worker, other_code, 1)
    task = await task_of(client, user_key, other_code)
    assert (task["status"], task["retry_count"], task["failure"]["exit_code"]) == ("failed", 0, 1)
    assert [entry["status"] for entry in task["attempts"]] == ["failed"]

    # The default policy retries only a lost worker: an exit code, even with retries left, is final.
    default = await submit(client, user_key, max_retries=2)
    created = await task_of(client, user_key, default)
    assert (created["retry_on"], created["retry_on_exit_codes"], created["retry_backoff_seconds"]) == (
        ["worker_lost"],
        [],
        0,
    )
    await _fail(worker, default, 3)
    assert (await task_of(client, user_key, default))["status"] == "failed"

    # A reason named in retry_on is retried whatever the exit code.
    oom = await submit(client, user_key, max_retries=1, retry_on=["out_of_memory"])
    await _fail(worker, oom, 137, failure_reason="out_of_memory")
    task = await task_of(client, user_key, oom)
    assert (task["status"], task["attempt"]) == ("queued", 2)
    assert task["message"] == "Retrying after ran out of memory (attempt 2 of 2)"
    assert task["attempts"][0]["failure_reason"] == "out_of_memory"


async def test_a_lost_worker_is_not_retried_when_retry_on_leaves_it_out(
    client, worker_key, user_key, db, manager
):
    worker_id = await register(client, worker_key, "w1")
    task_id = await submit(client, user_key, max_retries=2, retry_on=["exit_code"])
    await claim(client, worker_key, worker_id)
    assert (await report(client, worker_key, worker_id, task_id, status="running")).status_code == 200
    await end_lease(db, worker_id)
    reaped = await manager.reap()
    assert (reaped.requeued, reaped.failed) == ([], [task_id])
    task = await task_of(client, user_key, task_id)
    assert (task["status"], task["failure"]["reason"]) == ("failed", "worker_lost")
    assert (
        task["failure"]["message"] == "Worker w1 was lost; the task's retry_on does not include worker_lost"
    )


async def test_the_backoff_delays_the_next_claim_and_doubles(client, worker_key, user_key, db):
    task_id = await submit(client, user_key, max_retries=2, retry_on_exit_codes=[3], retry_backoff_seconds=60)
    worker = await FakeWorker(client, worker_key).register()
    await _fail(worker, task_id, 3)
    task = await task_of(client, user_key, task_id)
    assert task["status"] == "queued"
    assert task["not_before"] == Recent(offset=60, tolerance=20)
    assert "in 60 s, not before" in task["message"] and task["message"].endswith("(attempt 2 of 3)")
    # Within the backoff no worker gets it.
    assert await claim(client, worker_key, worker.worker_id) is None

    async def backoff_passed() -> None:
        async with db.session() as session:
            await session.execute(update(TaskRow).where(TaskRow.id == task_id).values(not_before=utcnow()))

    await backoff_passed()
    await _fail(worker, task_id, 3)
    assert worker.attempts[task_id] == 2
    task = await task_of(client, user_key, task_id)
    assert task["not_before"] == Recent(offset=120, tolerance=20)
    assert await claim(client, worker_key, worker.worker_id) is None
    await backoff_passed()
    await worker.start(task_id)
    assert worker.attempts[task_id] == 3


async def test_retry_queues_a_failed_task_again_and_keeps_each_attempts_files(
    client, worker_key, user_key, other_user_key
):
    task_id = await submit(client, user_key)
    worker = await FakeWorker(client, worker_key).register()
    await worker.start(task_id)
    assert (await worker.log(task_id, "attempt one output")).status_code == 204
    assert (await worker.upload(task_id, "out.txt", b"one")).status_code == 201
    await worker.report(task_id, status="failed", exit_code=1)

    path = f"/v1/tasks/{task_id}/retry"
    refused(await client.post(path, headers=auth(other_user_key)), 404)
    refused(
        await client.post("/v1/tasks/0123456789abcdef0123456789abcdef/retry", headers=auth(user_key)), 404
    )
    response = await client.post(path, headers=auth(user_key))
    assert response.status_code == 200, response.text
    task = response.json()
    assert (task["status"], task["retry_count"], task["attempt"]) == ("queued", 1, 2)
    assert "failure" not in task and "worker_id" not in task and task["progress"] == 0.0
    assert "ended_at" not in task and "started_at" not in task
    assert [(e["attempt"], e["status"], e.get("exit_code")) for e in task["attempts"]] == [
        (1, "failed", 1),
        (2, "queued", None),
    ]
    # A queued task is not retried again.
    refused(await client.post(path, headers=auth(user_key)), 409)

    await worker.start(task_id)
    assert worker.attempts[task_id] == 2
    assert (await worker.log(task_id, "attempt two output")).status_code == 204
    assert (await worker.upload(task_id, "out.txt", b"two")).status_code == 201
    await worker.finish(task_id)
    refused(await client.post(path, headers=auth(user_key)), 409)  # completed

    logs = f"/v1/tasks/{task_id}/logs"
    assert (await client.get(logs, headers=auth(user_key))).text == "attempt two output\n"
    first = await client.get(logs, headers=auth(user_key), params={"attempt": 1})
    assert (first.status_code, first.text) == (200, "attempt one output\n")
    assert (
        await client.get(logs, headers=auth(user_key), params={"attempt": 2})
    ).text == "attempt two output\n"
    refused(await client.get(logs, headers=auth(user_key), params={"attempt": 3}), 404)

    artifacts = f"/v1/tasks/{task_id}/artifacts"
    listed = (await client.get(artifacts, headers=auth(user_key), params={"attempt": 1})).json()
    assert sorted(a["path"] for a in listed["artifacts"]) == ["out.txt", "run.json"]
    one = await client.get(f"{artifacts}/out.txt", headers=auth(user_key), params={"attempt": 1})
    two = await client.get(f"{artifacts}/out.txt", headers=auth(user_key))
    assert (one.content, two.content) == (b"one", b"two")

    run = f"/v1/tasks/{task_id}/run"
    earlier = (await client.get(run, headers=auth(user_key), params={"attempt": 1})).json()
    current = (await client.get(run, headers=auth(user_key))).json()
    assert (earlier["attempt"], earlier["status"], earlier["worker_id"]) == (1, "failed", worker.worker_id)
    assert (current["attempt"], current["status"]) == (2, "completed")
    refused(await client.get(run, headers=auth(user_key), params={"attempt": 5}), 404)


async def test_retry_of_a_cancelled_task_by_an_admin(client, user_key, admin_key):
    task_id = await submit(client, user_key)
    assert (await client.delete(f"/v1/tasks/{task_id}", headers=auth(user_key))).status_code == 204
    response = await client.post(f"/v1/tasks/{task_id}/retry", headers=auth(admin_key))
    assert response.status_code == 200, response.text
    task = response.json()
    assert (task["status"], task["attempt"]) == ("queued", 2) and "failure" not in task
    assert task["attempts"][0]["status"] == "cancelled"
    assert task["attempts"][0]["failure_reason"] == "cancelled"
