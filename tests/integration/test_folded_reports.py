"""Issue 11: a task whose process ended within moments sends one report, its end with `run_seconds`, and
the server records its `running` and its end in one transaction, exactly as the two reports would have
(events, audit, run record); the bounds of the start it records, and the reports it refuses."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from runplane.store.tables import EventRow, TaskRow
from tests.conftest import auth
from tests.integration.test_gang_placement import start_gang
from tests.support.errors import assert_error
from tests.support.workers import claimed_id, register, report, submit, task_of

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"reaper_seconds": 0}


def _same(value: Any, ids: dict[str, str]) -> Any:
    """`value` with the task's and worker's ids replaced by their role, and times left out."""
    if isinstance(value, dict):
        return {
            key: _same(item, ids)
            for key, item in value.items()
            if key not in ("duration_seconds", "timestamp", "submitted_at", "started_at", "ended_at")
        }
    if isinstance(value, list | tuple):
        return [_same(item, ids) for item in value]
    if isinstance(value, str):
        for name, role in ids.items():
            value = value.replace(name, role)
    return value


async def _events(db, task_id: str) -> list[tuple[str, Any]]:
    async with db.reader() as session:
        rows = (
            await session.scalars(select(EventRow).where(EventRow.task_id == task_id).order_by(EventRow.id))
        ).all()
    return [(row.topic, row.data) for row in rows]


async def _audit(client, admin_key: str, task_id: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/audit/events", headers=auth(admin_key), params={"limit": 1000})
    assert response.status_code == 200, response.text
    return [
        {
            key: e[key]
            for key in ("event_type", "action", "resource", "success", "error", "metadata", "user_id")
        }
        for e in response.json()["events"]
        if e["metadata"].get("task_id") == task_id
    ]


async def _seen(client, db, admin_key: str, user_key: str, task_id: str, worker_id: str) -> dict[str, Any]:
    """What observers see of the task: its events, audit entries, view, attempts and run record."""
    ids = {task_id: "TASK", worker_id: "WORKER"}
    task = await task_of(client, user_key, task_id)
    run = await client.get(f"/v1/tasks/{task_id}/run", headers=auth(user_key))
    assert run.status_code == 200, run.text
    shown = {
        key: task.get(key)
        for key in ("status", "message", "progress", "failure", "retry_count", "attempts", "exit_code")
    }
    seen: dict[str, Any] = _same(
        {
            "events": await _events(db, task_id),
            "audit": await _audit(client, admin_key, task_id),
            "task": shown,
            "run": {key: value for key, value in run.json().items() if key not in ("task_id", "run_id")},
            "started": task.get("started_at") is not None,
            "attempts_started": [entry.get("started_at") is not None for entry in task.get("attempts") or []],
            "ended": task.get("ended_at") is not None,
        },
        ids,
    )
    return seen


# Each case: what the task is submitted with, whether its owner cancels it first, and the end report.
CASES: dict[str, tuple[dict[str, Any], bool, list[dict[str, Any]]]] = {
    "completed": ({}, False, [{"status": "completed", "progress": 100}]),
    "completed_with_note": ({}, False, [{"status": "completed", "message": "1 line lost", "exit_code": 0}]),
    "failed": ({}, False, [{"status": "failed", "failure_reason": "exit_code", "exit_code": 3}]),
    "failed_then_retried": (
        {"max_retries": 1, "retry_on": ["exit_code"]},
        False,
        [
            {
                "status": "failed",
                "failure_reason": "exit_code",
                "exit_code": 3,
                "message": "exited with code 3",
            }
        ],
    ),
    "timed_out": ({}, False, [{"status": "failed", "failure_reason": "timeout", "message": "timed out"}]),
    "cancelled": ({}, True, [{"status": "cancelled", "exit_code": -15}]),
    "collected": (
        {},
        False,
        [{"status": "collecting", "message": "uploading 1 artifact(s)"}, {"status": "completed"}],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_folded_report_records_what_two_reports_would_have(
    case, client, db, worker_key, user_key, admin_key
):
    """The same events (with their data), audit entries, task view, attempts and run record as `running`
    followed by the end, for every end (a failure the policy retries goes back to the queue as well)."""
    extra, cancel, ends = CASES[case]
    worker_id = await register(client, worker_key)
    seen = []
    for folded in (False, True):
        task_id = await submit(client, user_key, **extra)
        assert await claimed_id(client, worker_key, worker_id) == task_id
        if cancel:
            assert (await client.delete(f"/v1/tasks/{task_id}", headers=auth(user_key))).status_code == 202
        if not folded:
            started = await report(
                client, worker_key, worker_id, task_id, status="running", message="running"
            )
            assert started.status_code == 200, started.text
        for number, end in enumerate(ends):
            body = {"attempt": 1, **end}
            if folded and number == 0:
                body["run_seconds"] = 0.25
            answer = await report(client, worker_key, worker_id, task_id, **body)
            assert answer.status_code == 200, answer.text
        seen.append(await _seen(client, db, admin_key, user_key, task_id, worker_id))
        if seen[-1]["task"]["status"] == "queued":  # retried: out of the way of the next claim
            assert (await client.delete(f"/v1/tasks/{task_id}", headers=auth(user_key))).status_code == 204
    unfolded, folded_seen = seen
    assert folded_seen == unfolded
    statuses = [(data.get("status"), data.get("previous_status")) for topic, data in unfolded["events"]]
    assert ("running", "preparing") in statuses  # the folded one has it too (equal above)
    assert "job_started" in [entry["event_type"] for entry in unfolded["audit"]]


async def test_the_folded_start_is_kept_between_the_claim_and_the_end(client, db, worker_key, user_key):
    worker_id = await register(client, worker_key)
    claimed_at: dict[str, datetime] = {}
    tasks = {}
    for run_seconds in (0.0, 0.5, 31622400):
        task_id = await submit(client, user_key)
        assert await claimed_id(client, worker_key, worker_id) == task_id
        async with db.reader() as session:
            row = await session.get(TaskRow, task_id)
            assert row is not None
            claimed_at[task_id] = row.updated_at
        answer = await report(
            client, worker_key, worker_id, task_id, status="completed", run_seconds=run_seconds
        )
        assert answer.status_code == 200, answer.text
        tasks[run_seconds] = task_id
    for run_seconds, task_id in tasks.items():
        task = await task_of(client, user_key, task_id)
        started = datetime.fromisoformat(task["started_at"])
        ended = datetime.fromisoformat(task["ended_at"])
        assert claimed_at[task_id] <= started <= ended
        if run_seconds == 0.0:
            assert started == ended  # no time ran: the start is the report's arrival
        elif run_seconds == 31622400:
            assert started == claimed_at[task_id]  # a year: not before the claim
        else:
            assert ended - started <= timedelta(seconds=0.5)


async def test_a_cancel_request_during_the_run_does_not_move_the_start_bound(
    client, db, worker_key, user_key
):
    """A cancel request changes the task while its process may already run: the start is then kept
    after the attempt was queued, not after the request."""
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    assert await claimed_id(client, worker_key, worker_id) == task_id
    assert (await client.delete(f"/v1/tasks/{task_id}", headers=auth(user_key))).status_code == 202
    async with db.reader() as session:
        row = await session.get(TaskRow, task_id)
        assert row is not None
        queued_at, cancel_asked_at = row.queued_at, row.updated_at
    answer = await report(client, worker_key, worker_id, task_id, status="cancelled", run_seconds=31622400)
    assert answer.json()["status"] == "cancelled", answer.text
    started = datetime.fromisoformat((await task_of(client, user_key, task_id))["started_at"])
    assert started == queued_at < cancel_asked_at


async def test_a_running_report_with_run_seconds_dates_the_start(client, db, worker_key, user_key):
    """A task longer than the agent's window reports `running` with how long it has run: its start is
    dated back by that (within the claim), the rest as before."""
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    assert await claimed_id(client, worker_key, worker_id) == task_id
    async with db.reader() as session:
        row = await session.get(TaskRow, task_id)
        assert row is not None
        claimed_at = row.updated_at
    answer = await report(client, worker_key, worker_id, task_id, status="running", run_seconds=31622400)
    assert answer.json() == {"status": "running", "progress": 0.0, "cancel_requested": False}
    task = await task_of(client, user_key, task_id)
    assert datetime.fromisoformat(task["started_at"]) == claimed_at
    # Sent again (its answer was lost), it is a repeat: nothing changes.
    again = await report(client, worker_key, worker_id, task_id, status="running", run_seconds=1)
    assert again.status_code == 200, again.text
    assert (await task_of(client, user_key, task_id))["started_at"] == task["started_at"]
    ended = await report(client, worker_key, worker_id, task_id, status="completed")
    assert ended.json()["status"] == "completed"
    events = [(topic, data.get("status")) for topic, data in await _events(db, task_id)]
    assert events == [
        ("task_update", "queued"),
        ("task_update", "preparing"),
        ("task_update", "running"),
        ("task_update", "completed"),
        ("task_complete", "completed"),
    ]


async def test_folded_reports_that_break_the_rules_change_nothing(
    client, db, worker_key, user_key, admin_key
):
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    assert await claimed_id(client, worker_key, worker_id) == task_id
    before = await _seen(client, db, admin_key, user_key, task_id, worker_id)
    body = {"status": "completed"}
    for bad in (-0.001, 31622401, "1"):
        answer = await report(client, worker_key, worker_id, task_id, **body, run_seconds=bad)
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "VALIDATION_ERROR"
    for status in (None, "preparing"):
        sent = {"run_seconds": 1.0, "progress": 5} | ({"status": status} if status else {})
        answer = await report(client, worker_key, worker_id, task_id, **sent)
        assert_error(
            answer,
            400,
            "VALIDATION_ERROR",
            "'run_seconds' goes with the report that starts the task: status 'running' or its end",
            {"field": "run_seconds"},
        )
    unasked = await report(client, worker_key, worker_id, task_id, status="cancelled", run_seconds=1)
    assert_error(
        unasked,
        409,
        "CONFLICT",
        "Nobody asked to cancel this task",
        {"task_id": task_id, "status": "preparing"},
    )
    # Without run_seconds a preparing task still cannot be reported completed (it never said it ran).
    skipped = await report(client, worker_key, worker_id, task_id, status="completed")
    assert skipped.status_code == 409
    assert await _seen(client, db, admin_key, user_key, task_id, worker_id) == before

    # Once the task reported its start, a report carrying run_seconds is not the one that started it.
    assert (await report(client, worker_key, worker_id, task_id, status="running")).status_code == 200
    before = await _seen(client, db, admin_key, user_key, task_id, worker_id)
    late = await report(client, worker_key, worker_id, task_id, status="completed", run_seconds=1)
    assert_error(
        late,
        409,
        "CONFLICT",
        "A running task already reported its start: run_seconds goes only with the report that starts a "
        "preparing task",
        {"task_id": task_id, "status": "running", "requested": "completed"},
    )
    assert await _seen(client, db, admin_key, user_key, task_id, worker_id) == before


async def test_a_folded_end_sent_again_is_a_repeat(client, db, worker_key, user_key, admin_key):
    """At least once: the agent sends its end again when the answer was lost; nothing more is recorded,
    and another end is refused as for any ended task."""
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    assert await claimed_id(client, worker_key, worker_id) == task_id
    first = await report(client, worker_key, worker_id, task_id, status="completed", run_seconds=0.1)
    assert first.json() == {"status": "completed", "progress": 100.0, "cancel_requested": False}
    before = await _seen(client, db, admin_key, user_key, task_id, worker_id)
    again = await report(client, worker_key, worker_id, task_id, status="completed", run_seconds=0.1)
    assert again.json() == first.json()
    other = await report(client, worker_key, worker_id, task_id, status="failed", run_seconds=0.1)
    assert_error(
        other,
        409,
        "CONFLICT",
        "Task already completed",
        {"task_id": task_id, "status": "completed", "requested": "failed"},
    )
    assert await _seen(client, db, admin_key, user_key, task_id, worker_id) == before


async def test_a_multi_node_part_reports_running_on_its_own(client, worker_key, user_key):
    """A gang is as far as its slowest part: a part's end cannot stand for its `running` (409, nothing
    changes; the agent never folds a part's reports)."""
    task_id, workers = await start_gang(client, worker_key, user_key, 2)
    folded = await report(client, worker_key, workers[0], task_id, status="completed", run_seconds=0.1)
    assert_error(
        folded,
        409,
        "CONFLICT",
        "A multi-node task's part reports 'running' on its own: run_seconds is for single-node tasks",
        {"task_id": task_id, "status": "preparing"},
    )
    assert (await task_of(client, user_key, task_id))["status"] == "preparing"
