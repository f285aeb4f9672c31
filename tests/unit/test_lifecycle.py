"""The task state machine (runplane.lifecycle): its table, its checks and the requeue-or-fail decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from generated.models import TaskStatus as ContractStatus
from runplane import lifecycle
from runplane.errors import Conflict
from runplane.lifecycle import ACTIVE, ALL, REPORTED, TERMINAL, TRANSITIONS, TaskStatus
from runplane.store.tables import TaskRow

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_the_statuses_are_the_contracts_enum() -> None:
    assert TaskStatus is ContractStatus
    assert set(ALL) == set(TaskStatus)
    assert set(ACTIVE) | set(TERMINAL) | {TaskStatus.queued} == set(TaskStatus)
    assert not set(ACTIVE) & set(TERMINAL)
    # Members bind and compare as the stored strings.
    assert TaskStatus.queued == "queued" and f"{TaskStatus.failed}" == "failed"


def test_the_transition_table_covers_every_status_and_reports_are_a_subset() -> None:
    assert set(TRANSITIONS) == set(TaskStatus)
    for status, targets in REPORTED.items():
        assert status in ACTIVE
        assert targets <= TRANSITIONS[status]
    assert TRANSITIONS[TaskStatus.completed] == frozenset()
    for status in TERMINAL:
        assert TRANSITIONS[status] <= {TaskStatus.queued}  # only an explicit retry


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        ("completed", "running", "Task already completed"),
        ("running", "preparing", "A running task cannot become preparing"),
        ("preparing", "completed", "A preparing task cannot become completed"),
    ],
)
def test_an_illegal_report_is_a_conflict(current: str, target: str, message: str) -> None:
    with pytest.raises(Conflict) as raised:
        lifecycle.check_transition("t1", current, target, allowed=REPORTED)
    assert raised.value.message == message
    assert raised.value.details == {"task_id": "t1", "status": current, "requested": target}


def test_legal_transitions_pass() -> None:
    lifecycle.check_transition("t1", "running", "collecting", allowed=REPORTED)
    # A task with no outputs to upload ends straight from running (issue 11 §2: no empty `collecting`).
    lifecycle.check_transition("t1", "running", "completed", allowed=REPORTED)
    lifecycle.check_transition("t1", "failed", "queued")
    assert lifecycle.can_move("queued", "preparing") and not lifecycle.can_move("queued", "running")


def test_failure_messages() -> None:
    assert lifecycle.failure_message("exit_code", 3, None) == "exited with code 3"
    assert lifecycle.failure_message("timeout", None, 60) == "timed out after 60 s"
    assert lifecycle.failure_message("worker_lost", None, None) == "its worker was lost"
    assert lifecycle.failure_message("internal", None, None) == "failed"


def _task(**fields: object) -> TaskRow:
    values: dict[str, object] = {
        "id": "t1",
        "status": "running",
        "retry_count": 0,
        "max_retries": 2,
        "retry_on": ["worker_lost"],
        "retry_on_exit_codes": [3],
        "retry_backoff_seconds": 0,
        "cancel_requested": False,
        "attempts": [],
        "worker_id": "w1",
        "started_at": NOW - timedelta(minutes=1),
        **fields,
    }
    return TaskRow(**values)


def test_a_failure_the_policy_retries_is_requeued_as_the_next_attempt() -> None:
    outcome = lifecycle.after_failure(_task(), "exit_code", exit_code=3, text="exited with code 3", now=NOW)
    assert outcome.status == TaskStatus.queued and outcome.retry is not None
    assert outcome.values["retry_count"] == 1
    assert outcome.values["attempts"][0]["failure_message"] == "exited with code 3"
    assert outcome.values["message"] == "Retrying after exited with code 3 (attempt 2 of 3)"


def test_a_failure_it_does_not_retry_ends_the_task() -> None:
    outcome = lifecycle.after_failure(_task(), "exit_code", exit_code=4, text="exited with code 4", now=NOW)
    assert outcome.retry is None
    assert outcome.values == {
        "status": TaskStatus.failed,
        "failure_reason": "exit_code",
        "failure_message": "exited with code 4",
        "message": "Failed: exited with code 4",
        "ended_at": NOW,
    }


def test_no_retries_left_or_a_cancel_request_ends_the_task() -> None:
    spent = _task(retry_count=2)
    assert lifecycle.after_failure(spent, "worker_lost", exit_code=None, text="x", now=NOW).retry is None
    asked = _task(cancel_requested=True)
    assert lifecycle.after_failure(asked, "worker_lost", exit_code=None, text="x", now=NOW).retry is None


def test_a_folded_report_goes_through_running_by_the_reported_edges() -> None:
    """Every FOLDED end is a reported edge from `running` (the two reports it stands for)."""
    for target in lifecycle.FOLDED[TaskStatus.preparing]:
        assert TaskStatus.running in REPORTED[TaskStatus.preparing]
        assert target in REPORTED[TaskStatus.running]
        assert lifecycle.check_started("t", "preparing", target) is True
    assert lifecycle.check_started("t", "preparing", "running") is False


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        ("running", "completed", "A running task already reported its start"),
        ("collecting", "completed", "A collecting task already reported its start"),
        ("completed", "failed", "Task already completed"),
        ("preparing", "queued", "A preparing task cannot become queued"),
    ],
)
def test_a_report_that_says_the_process_started_only_starts_a_preparing_task(
    current: str, target: str, message: str
) -> None:
    with pytest.raises(Conflict) as raised:
        lifecycle.check_started("t", current, target)
    assert raised.value.message.startswith(message)


def test_the_start_a_report_gives_is_kept_between_the_bound_and_now() -> None:
    since = NOW - timedelta(seconds=10)
    assert lifecycle.started_at(2.5, since=since, now=NOW) == NOW - timedelta(seconds=2.5)
    assert lifecycle.started_at(0, since=since, now=NOW) == NOW
    assert lifecycle.started_at(1e6, since=since, now=NOW) == since
    # A bound later than now (a clock step between two server processes) does not put the start ahead.
    assert lifecycle.started_at(1, since=NOW + timedelta(seconds=5), now=NOW) == NOW


def test_a_cancel_request_moves_the_earliest_start_back_to_the_queueing() -> None:
    task = TaskRow(
        queued_at=NOW - timedelta(minutes=5), updated_at=NOW - timedelta(minutes=1), cancel_requested=False
    )
    assert lifecycle.earliest_start(task) == NOW - timedelta(minutes=1)
    task.cancel_requested = True
    assert lifecycle.earliest_start(task) == NOW - timedelta(minutes=5)
