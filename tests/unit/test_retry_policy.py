"""The retry policy's rules (runplane.retries): which failures retry, how long the backoff is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from runplane.retries import MAX_BACKOFF_SECONDS, backoff_seconds, decide
from runplane.store.tables import TaskRow

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


def task(**fields: Any) -> TaskRow:
    values: dict[str, Any] = {
        "max_retries": 2,
        "retry_count": 0,
        "retry_on": ["worker_lost"],
        "retry_on_exit_codes": [],
        "retry_backoff_seconds": 0,
        "cancel_requested": False,
        **fields,
    }
    return TaskRow(**values)


def test_the_backoff_doubles_per_retry_up_to_the_cap() -> None:
    assert [backoff_seconds(5, n) for n in range(4)] == [5, 10, 20, 40]
    assert backoff_seconds(0, 3) == 0
    assert backoff_seconds(3600, 1) == MAX_BACKOFF_SECONDS
    assert backoff_seconds(1, 500) == MAX_BACKOFF_SECONDS


def test_only_what_the_policy_names_is_retried_while_retries_are_left() -> None:
    assert decide(task(), "worker_lost", None, now=NOW) is not None
    assert decide(task(), "exit_code", 3, now=NOW) is None
    coded = task(retry_on_exit_codes=[3, 4])
    assert decide(coded, "exit_code", 3, now=NOW) is not None
    assert decide(coded, "exit_code", 1, now=NOW) is None
    assert decide(coded, "timeout", 3, now=NOW) is None  # codes only count for reason exit_code
    assert decide(task(retry_on=["cancelled"]), "cancelled", None, now=NOW) is None
    assert decide(task(retry_count=2), "worker_lost", None, now=NOW) is None
    assert decide(task(cancel_requested=True), "worker_lost", None, now=NOW) is None


def test_a_retry_names_its_attempt_and_waits_for_its_backoff() -> None:
    retry = decide(task(retry_count=1, retry_backoff_seconds=10), "worker_lost", None, now=NOW)
    assert retry is not None
    assert (retry.attempt, retry.max_attempts, retry.delay_seconds) == (3, 3, 20)
    assert retry.not_before == NOW + timedelta(seconds=20)
    assert retry.message("its worker was lost") == (
        "Retrying after its worker was lost, in 20 s, not before 01:00:20 UTC (attempt 3 of 3)"
    )
    at_once = decide(task(), "worker_lost", None, now=NOW)
    assert at_once is not None and at_once.not_before is None
    assert at_once.message("x") == "Retrying after x (attempt 2 of 3)"
