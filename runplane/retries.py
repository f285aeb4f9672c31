"""The retry policy: whether a task's failed attempt runs again, when, and what the earlier attempts were.

A task names its policy at submission (``TaskCreate``): ``max_retries`` (how often it may be queued again),
``retry_on`` (the failure reasons retried; ``["worker_lost"]`` by default, so a task whose worker is lost
runs again and any other failure is final), ``retry_on_exit_codes`` (a failure with reason ``exit_code``
and one of these codes is retried too) and ``retry_backoff_seconds`` (the wait before the first retry,
doubled on each further one, at most ``MAX_BACKOFF_SECONDS``). A cancelled task is never retried
automatically. `decide` is the one place this is decided: the reaper's recovery of a lost worker's task and
a worker's failure report both ask it (`runplane.workers`).

A task's attempt is ``retry_count + 1``. Each retry (automatic, or ``POST /v1/tasks/{id}/retry``) appends the
attempt that ended to the task's ``attempts`` history (`ended_attempt`) and clears the failure fields,
exit code and progress for the new attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from generated.models import TaskStatus
from runplane.store.tables import TaskRow

# The failure reason of a cancelled task (runplane.lifecycle.CANCELLED_REASON; kept here to avoid a cycle).
CANCELLED_REASON = "cancelled"

DEFAULT_RETRY_ON = ("worker_lost",)
MAX_BACKOFF_SECONDS = 3600
# retry_count's bound in the contract (Task.retry_count maximum): no task is queued more often than this.
MAX_RETRY_COUNT = 1000


@dataclass(frozen=True)
class Retry:
    """A decision to run a task again: the new attempt's number, the most attempts the policy allows,
    and when the new attempt may be claimed (None: at once)."""

    attempt: int
    max_attempts: int
    not_before: datetime | None
    delay_seconds: int

    def message(self, why: str) -> str:
        """The queued task's message, e.g. ``Retrying after exited with code 3 (attempt 2 of 3)``."""
        wait = ""
        if self.not_before is not None:
            wait = f", in {self.delay_seconds} s, not before {self.not_before.strftime('%H:%M:%S')} UTC"
        return f"Retrying after {why}{wait} (attempt {self.attempt} of {self.max_attempts})"[:1024]


def backoff_seconds(base: int, retries_done: int) -> int:
    """The wait before the retry that follows ``retries_done`` earlier retries: ``base * 2**retries_done``,
    at most ``MAX_BACKOFF_SECONDS`` (0 when ``base`` is 0)."""
    if base <= 0:
        return 0
    if retries_done >= 12:  # 2**12 s already exceeds the cap
        return MAX_BACKOFF_SECONDS
    return min(base << retries_done, MAX_BACKOFF_SECONDS)


def retryable(task: TaskRow, reason: str, exit_code: int | None) -> bool:
    """Whether the task's policy retries a failure with this reason (and exit code)."""
    if reason == CANCELLED_REASON:
        return False
    if reason in (task.retry_on or []):
        return True
    return reason == "exit_code" and exit_code is not None and exit_code in (task.retry_on_exit_codes or [])


def decide(task: TaskRow, reason: str, exit_code: int | None, *, now: datetime) -> Retry | None:
    """The retry for the task's current attempt failing with ``reason``; None when it fails for good.

    A task is retried when its policy names the failure, it still has retries (``retry_count <
    max_retries``) and nobody asked to cancel it.
    """
    if task.cancel_requested or task.retry_count >= min(task.max_retries, MAX_RETRY_COUNT):
        return None
    if not retryable(task, reason, exit_code):
        return None
    delay = backoff_seconds(task.retry_backoff_seconds, task.retry_count)
    return Retry(
        attempt=task.retry_count + 2,
        max_attempts=task.max_retries + 1,
        not_before=now + timedelta(seconds=delay) if delay else None,
        delay_seconds=delay,
    )


def ended_attempt(
    task: TaskRow,
    *,
    status: str,
    failure_reason: str | None,
    failure_message: str | None,
    exit_code: int | None,
    ended_at: datetime | None,
) -> dict[str, Any]:
    """The history entry (``TaskAttempt`` in the contract, JSON-ready) of the task's current attempt."""
    return {
        "attempt": task.retry_count + 1,
        "status": status,
        "failure_reason": failure_reason,
        "failure_message": failure_message,
        "exit_code": exit_code,
        "worker_id": task.worker_id,
        "started_at": task.started_at.isoformat() if task.started_at else None,
        "ended_at": ended_at.isoformat() if ended_at else None,
    }


def current_attempt(task: TaskRow) -> dict[str, Any]:
    """The history entry of the attempt the task is on now (its live status and fields)."""
    return ended_attempt(
        task,
        status=task.status,
        failure_reason=task.failure_reason,
        failure_message=task.failure_message,
        exit_code=task.exit_code,
        ended_at=task.ended_at,
    )


def all_attempts(task: TaskRow) -> list[dict[str, Any]]:
    """Every attempt of the task, the first one first and the current one last."""
    return [*(task.attempts or []), current_attempt(task)]


def attempt_entry(task: TaskRow, attempt: int) -> dict[str, Any] | None:
    """Attempt number ``attempt`` of the task (1-based), None when it has not had that attempt."""
    if attempt == task.retry_count + 1:
        return current_attempt(task)
    for entry in task.attempts or []:
        if entry.get("attempt") == attempt:
            return dict(entry)
    return None


def requeue_values(
    task: TaskRow, ended: dict[str, Any], *, now: datetime, not_before: datetime | None, message: str
) -> dict[str, Any]:
    """The column values that put the task back in the queue as its next attempt.

    ``ended`` is the attempt that ended (`ended_attempt`); failure fields, exit code, progress, times, the
    cancellation request and a service's URL (its server died with the attempt: the new one reports its
    own) are cleared for the new attempt.
    """
    return {
        "status": TaskStatus.queued,
        "worker_id": None,
        "retry_count": task.retry_count + 1,
        "attempts": [*(task.attempts or []), ended],
        "queued_at": now,
        "not_before": not_before,
        "started_at": None,
        "ended_at": None,
        "progress": 0.0,
        "exit_code": None,
        "failure_reason": None,
        "failure_message": None,
        "cancel_requested": False,
        "cancelled_by": None,
        "service_url": None,
        "message": message[:1024],
        "updated_at": now,
    }
