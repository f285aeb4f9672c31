"""The task state machine: statuses, allowed transitions, failure reasons and messages, the retry outcome.

This module is the one home of a task's lifecycle (issue 8 §1); every other module asks it:

    queued ──claim──▶ preparing ──▶ running ──▶ collecting ──▶ completed
      │  ▲               │             │             │
      │  └───requeue─────┴─────────────┴─────────────┘   (retry policy, lost worker, forgotten claim)
      │                  │             │             │
      ▼                  ▼             ▼             ▼
    cancelled          failed | cancelled (from any active state)
        └──────retry (POST /v1/tasks/{id}/retry)──────▶ queued     failed ──retry──▶ queued
    running ──▶ completed   (a task with no outputs to upload skips collecting)
    preparing ─(running)─▶ collecting | completed | failed | cancelled   (`FOLDED`: one report whose
                            `run_seconds` says the process ran; recorded as running, then the end)

- `TaskStatus` is the contract's enum (`generated.models.TaskStatus`, a `StrEnum`: its members compare and
  bind as the plain strings stored in ``tasks.status``). `ACTIVE` / `TERMINAL` / `LIVE` are its sets.
- `TRANSITIONS` is the table of every allowed change; `check_transition` raises `Conflict` (409) for any
  other. `REPORTED` is the subset a worker's report may ask for (the rest are the server's: claim,
  requeue, cancel, retry).
- `FailureReason` is the contract's enum of why an attempt ended; `failure_message` is the default text.
- `after_failure` is the one decision between requeue and fail when an attempt fails: it asks the task's
  retry policy (`runplane.retries.decide`, which owns backoff and attempt history) and returns the column
  values to write. The store only writes them, conditionally.

Per-part states (e.g. for multi-node gangs) extend this table: add the statuses to the contract enum, add
their edges to `TRANSITIONS`, and the checks follow.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from generated.models import FailureReason, TaskStatus
from runplane import retries
from runplane.errors import Conflict
from runplane.plugins import definitions as plugin_definitions
from runplane.redaction import SecretMarks, SecretValues

if TYPE_CHECKING:
    from runplane.store.tables import TaskRow

__all__ = [
    "ACTIVE",
    "ALL",
    "DEFAULT_MESSAGES",
    "FOLDED",
    "LIVE",
    "REPORTED",
    "RETRYABLE",
    "TERMINAL",
    "TRANSITIONS",
    "FailureReason",
    "Outcome",
    "TaskStatus",
    "after_failure",
    "can_move",
    "cancelled_values",
    "check_started",
    "check_transition",
    "earliest_start",
    "erase_secrets",
    "failure_message",
    "marked_texts",
    "redacted_view",
    "restored_texts",
    "secret_values",
    "shown_command",
    "shown_field",
    "shown_text",
    "started_at",
]

S = TaskStatus

# Every status, in lifecycle order.
ALL: Final[tuple[TaskStatus, ...]] = (
    S.queued,
    S.preparing,
    S.running,
    S.collecting,
    S.completed,
    S.failed,
    S.cancelled,
)
# Held by a worker (claimed, not yet ended): they use the worker's capacity.
ACTIVE: Final[tuple[TaskStatus, ...]] = (S.preparing, S.running, S.collecting)
# Ended: nothing changes them any more but an explicit retry.
TERMINAL: Final[tuple[TaskStatus, ...]] = (S.completed, S.failed, S.cancelled)
# Not ended: queued or active.
LIVE: Final[tuple[TaskStatus, ...]] = (S.queued, *ACTIVE)
# Ended states a user may queue again (`POST /v1/tasks/{id}/retry`).
RETRYABLE: Final[tuple[TaskStatus, ...]] = (S.failed, S.cancelled)

# Every allowed change of a task's status (repeating the current status is not a change).
TRANSITIONS: Final[dict[TaskStatus, frozenset[TaskStatus]]] = {
    # claimed by a worker; cancelled before it started
    S.queued: frozenset({S.preparing, S.cancelled}),
    # reported on by its worker; requeued (retry policy, lost worker, a claim its worker never got)
    S.preparing: frozenset({S.running, S.failed, S.cancelled, S.queued}),
    # running → completed: a task with no outputs to upload skips `collecting` (one report less)
    S.running: frozenset({S.collecting, S.completed, S.failed, S.cancelled, S.queued}),
    S.collecting: frozenset({S.completed, S.failed, S.cancelled, S.queued}),
    S.completed: frozenset(),
    # queued again as the next attempt, on request
    S.failed: frozenset({S.queued}),
    S.cancelled: frozenset({S.queued}),
}
# The changes a worker's report may ask for (the other edges are the server's own).
REPORTED: Final[dict[TaskStatus, frozenset[TaskStatus]]] = {
    S.preparing: frozenset({S.running, S.failed, S.cancelled}),
    S.running: frozenset({S.collecting, S.completed, S.failed, S.cancelled}),
    S.collecting: frozenset({S.completed, S.failed, S.cancelled}),
}
# The ends a worker's report may fold its `running` into (`TaskReport.run_seconds`: the process started and
# ended before the agent said so): from `preparing`, the task goes through `running` to them in one change.
FOLDED: Final[dict[TaskStatus, frozenset[TaskStatus]]] = {
    S.preparing: frozenset({S.collecting, S.completed, S.failed, S.cancelled}),
}
# The message a task shows on entering a state when nobody gave one.
DEFAULT_MESSAGES: Final[dict[TaskStatus, str]] = {
    S.queued: "Queued",
    S.preparing: "Preparing",
    S.running: "Running",
    S.collecting: "Collecting outputs",
    S.completed: "Completed",
    S.cancelled: "Cancelled",
}
# Default texts of the failure reasons whose text does not depend on the attempt.
_REASON_TEXTS: Final[dict[str, str]] = {
    FailureReason.out_of_memory: "ran out of memory",
    FailureReason.worker_lost: "its worker was lost",
    FailureReason.snapshot_invalid: "the code snapshot could not be used",
    FailureReason.dataset_invalid: "a dataset could not be fetched or verified",
}
# The failure reason of a cancelled task (the contract's FailureReason has no member for it: cancellation
# is not a failure, but the task's failure fields say why it ended).
CANCELLED_REASON: Final = retries.CANCELLED_REASON
# The failure reason of a failure a worker reported without one and without a non-zero exit code.
INTERNAL_REASON: Final = "internal"


def can_move(current: str, target: str) -> bool:
    """Whether `TRANSITIONS` allows a task in `current` to become `target`."""
    return TaskStatus(target) in TRANSITIONS.get(TaskStatus(current), frozenset())


def check_transition(
    task_id: str,
    current: str,
    target: str,
    *,
    allowed: dict[TaskStatus, frozenset[TaskStatus]] = TRANSITIONS,
) -> None:
    """Raises `Conflict` (409) unless `allowed` (by default every edge, `TRANSITIONS`) lets a task in
    `current` become `target`. Details name the task, its status and the requested one."""
    details = {"task_id": task_id, "status": str(current), "requested": str(target)}
    if current in TERMINAL and not allowed.get(TaskStatus(current)):
        raise Conflict(f"Task already {current}", details=details)
    if TaskStatus(target) not in allowed.get(TaskStatus(current), frozenset()):
        raise Conflict(f"A {current} task cannot become {target}", details=details)


def check_started(task_id: str, current: str, target: str) -> bool:
    """Checks a report that says the task's process started (`TaskReport.run_seconds`) and moves it to
    `target`; True when it folds `running` into its end (`FOLDED`: the task goes preparing → running →
    `target`), False when it is the `running` report itself.

    Only a task still `preparing` started with this report: a task already further along started with an
    earlier one, so the duration says nothing true about it; 409 (`Conflict`) then, naming the status.
    """
    details = {"task_id": task_id, "status": str(current), "requested": str(target)}
    if current != S.preparing:
        if current in TERMINAL:
            check_transition(task_id, current, target, allowed=REPORTED)  # "Task already <status>"
        raise Conflict(
            f"A {current} task already reported its start: run_seconds goes only with the report that "
            "starts a preparing task",
            details=details,
        )
    if target == S.running:
        return False
    if TaskStatus(target) not in FOLDED[S.preparing]:
        raise Conflict(f"A {current} task cannot become {target}", details=details)
    return True


def earliest_start(task: TaskRow) -> datetime:
    """The earliest moment a `preparing` task's process can have started: its last change (its claim, or
    a preparing report, which the agent sends before it starts the process). A cancel request changes a
    task while its process may already run, so for a task whose cancel was asked it is when the task was
    queued for this attempt (before its claim)."""
    return task.queued_at if task.cancel_requested else task.updated_at


def started_at(run_seconds: float, *, since: datetime, now: datetime) -> datetime:
    """When a task's process started, from a report that says it had run `run_seconds` when it was sent:
    `now` (the report's arrival) less the duration, kept between `since` (the task's last change before
    the start: its claim or a preparing report) and `now`. The report's travel time makes the start
    look slightly earlier than it was; a worker's clock that runs apart from the server's does not
    matter (a duration)."""
    start = now - timedelta(seconds=run_seconds)
    return min(max(start, since), now)


def failure_message(reason: str, exit_code: int | None, timeout_seconds: int | None) -> str:
    """The default human message for a failure with `reason` (a `FailureReason` value) reported without one."""
    if reason == FailureReason.exit_code:
        return f"exited with code {exit_code}" if exit_code is not None else "exited with an error"
    if reason == FailureReason.timeout:
        return f"timed out after {timeout_seconds} s" if timeout_seconds else "timed out"
    return _REASON_TEXTS.get(reason, "failed")


def cancelled_values(task: TaskRow, *, now: datetime) -> dict[str, Any]:
    """The column values of an active task that ends cancelled (its owner asked; the worker stopped it or
    was lost)."""
    return {
        "status": S.cancelled,
        "failure_reason": CANCELLED_REASON,
        "failure_message": f"Cancelled by {task.cancelled_by or 'its owner'}",
        "ended_at": now,
        "message": DEFAULT_MESSAGES[S.cancelled],
    }


def queued_cancel_values(cancelled_by: str, *, now: datetime) -> dict[str, Any]:
    """The column values of a queued task cancelled before any worker took it."""
    return {
        "status": S.cancelled,
        "failure_reason": CANCELLED_REASON,
        "failure_message": "Cancelled before it started",
        "cancelled_by": cancelled_by,
        "ended_at": now,
        "updated_at": now,
        "message": DEFAULT_MESSAGES[S.cancelled],
    }


SHOWN_FIELDS: Final[dict[str, str]] = {
    "job_name": "job_name",
    "run_label": "run_label",
    "metadata": "metadata_",
    "inputs": "inputs",
    "datasets": "datasets",
    "dataset_specs": "dataset_specs",
    "gpu_type": "gpu_type",
    "plugin_configs": "plugin_configs",
    "variation": "variation",
}
"""The task's other user-given fields its views show (view name → TaskRow attribute): free text a secret
value may have been pasted into, redacted by value like ``entrypoint``, ``args`` and ``env``."""


def redacted_view(task: TaskRow) -> dict[str, Any] | None:
    """The task's ``entrypoint``, ``args`` and ``env``, and its `SHOWN_FIELDS` (under ``fields``), with its
    secret values redacted (by value, as the views do while the values are stored), kept when the values are
    erased so that the views can still hide a value passed literally there. Built on the previous view, so
    values of earlier attempts stay hidden. None when the task has no secret values now."""
    if not task.secrets:
        return None
    hidden = SecretValues(str(value) for value in task.secrets.values() if value is not None)
    base = task.redacted_view or {}
    entrypoint = base.get("entrypoint", task.entrypoint)
    fields = shown_fields(task)
    return {
        "entrypoint": hidden.redact(entrypoint) if entrypoint is not None else None,
        "args": [hidden.redact(str(arg)) for arg in base.get("args", task.args or [])],
        "env": {name: hidden.redact(str(value)) for name, value in base.get("env", task.env or {}).items()},
        "fields": {name: hidden.deep(value) for name, value in fields.items()},
    }


def shown_command(task: TaskRow) -> tuple[str | None, list[Any], dict[str, Any]]:
    """What the views start from when they show the task's entrypoint, args and env: the redacted view
    kept when its secret values were erased (`redacted_view`), else the stored values."""
    view = task.redacted_view or {}
    return (
        view.get("entrypoint", task.entrypoint),
        list(view.get("args", task.args or [])),
        dict(view.get("env", task.env or {})),
    )


def shown_fields(task: TaskRow, hidden: SecretValues | None = None) -> dict[str, Any]:
    """The task's `SHOWN_FIELDS` (by view name) as its views show them: the redacted copies kept when its
    secret values were erased (`redacted_view`), else the stored values, redacted by `hidden` (its secret
    values now) and kept within the contract's bounds (a redaction can lengthen a text; a dataset name,
    which has a pattern, becomes ``redacted``)."""
    shown = {name: _kept_or_stored(task, name) for name in SHOWN_FIELDS}
    if hidden is None:
        return shown
    return {name: _shown(name, value, hidden) for name, value in shown.items()}


def shown_field(task: Any, name: str, hidden: SecretValues) -> Any:
    """One of the task's `SHOWN_FIELDS`, exactly as ``shown_fields(task, hidden)[name]``, for a reader that
    loaded only that column and ``redacted_view`` (a sweep's table of up to 10,000 tasks): `task` is any
    object with those attributes."""
    return _shown(name, _kept_or_stored(task, name), hidden)


def secret_values(
    secrets: Mapping[str, Any] | None, plugin_configs: Mapping[str, Any] | None
) -> SecretValues:
    """What a task's views hide by value: its own secret values (`secrets`, empty once erased) and the
    secret settings of its `plugin_configs` (they reach it as secret env, so are hidden alike)."""
    return SecretValues(
        [
            *(str(value) for value in (secrets or {}).values() if value is not None),
            *plugin_definitions.secret_values(plugin_configs or {}),
        ]
    )


def _kept_or_stored(task: Any, name: str) -> Any:
    kept = (task.redacted_view or {}).get("fields") or {}
    return kept[name] if name in kept else getattr(task, SHOWN_FIELDS[name])


def _shown(name: str, value: Any, hidden: SecretValues) -> Any:
    if name == "plugin_configs":
        # Plugin names are the server's (a fixed set); only what a task gave inside a config is redacted.
        return {plugin: hidden.deep(config) for plugin, config in (value or {}).items()}
    value = hidden.deep(value)
    if name in _TEXT_LIMITS and isinstance(value, str):
        return value[: _TEXT_LIMITS[name]]
    if name == "metadata" and isinstance(value, dict):
        return {key: str(item)[:1024] for key, item in value.items()}
    if name == "dataset_specs":
        return [_bounded_spec(spec) for spec in value or []]
    if name == "variation" and isinstance(value, dict):
        # openapi.yaml's SweepValue: a text of at most 1024 characters, which a redaction can lengthen.
        return {key: item[:1024] if isinstance(item, str) else item for key, item in value.items()}
    return value


_TEXT_LIMITS: Final = {"job_name": 64, "run_label": 128, "gpu_type": 64}
# openapi.yaml's DatasetSpec: `name` has a pattern "<redacted>" does not match; `source` and `mount_path`
# have lengths.
_DATASET_NAME: Final = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def _bounded_spec(spec: Any) -> Any:
    if not isinstance(spec, dict):
        return spec
    bounded = dict(spec)
    if isinstance(bounded.get("name"), str) and not _DATASET_NAME.fullmatch(bounded["name"]):
        bounded["name"] = "redacted"
    for name, limit in (("source", 2048), ("mount_path", 512)):
        if isinstance(bounded.get(name), str):
            bounded[name] = bounded[name][:limit]
    return bounded


_MARKED: Final = ("entrypoint", "args", "env", *SHOWN_FIELDS.values())
"""The stored texts a secret value may have been passed in literally (attributes of TaskRow)."""


def marked_texts(task: TaskRow) -> dict[str, Any]:
    """The task's stored texts (`_MARKED`) that hold one of its secret values, with each value replaced by
    its secret's mark (`runplane.redaction.SecretMarks`): what an ending write stores instead, so that no
    value outlives the task (a retry puts them back: :func:`restored_texts`). Attribute → new value; only
    the texts that change. Empty when the task has no secret values now."""
    if not task.secrets:
        return {}
    marks = SecretMarks(task.secret_names or task.secrets)
    changed: dict[str, Any] = {}
    for attribute in _MARKED:
        value = getattr(task, attribute)
        marked = marks.erase(task.secrets, value)
        if marked != value:
            changed[attribute] = marked
    return changed


def restored_texts(task: TaskRow, secrets: dict[str, str]) -> dict[str, Any]:
    """The task's stored texts with the marks of :func:`marked_texts` replaced by the values a retry gives
    again (`secrets`, name → value): the same command as the first attempt ran, with today's values. Texts
    with a bounded column (`_TEXT_LIMITS`) are cut to its length. Attribute → new value; only the texts that change."""
    marks = SecretMarks(task.secret_names or secrets)
    changed: dict[str, Any] = {}
    for attribute in _MARKED:
        value = getattr(task, attribute)
        restored = marks.restore(secrets, value)
        if restored != value:
            limit = _TEXT_LIMITS.get(attribute)
            changed[attribute] = restored[:limit] if limit and isinstance(restored, str) else restored
    return changed


def shown_text(task: TaskRow, name: str) -> str | None:
    """One of the task's `SHOWN_FIELDS` texts (``job_name``, ``run_label``, ``gpu_type``) as its views show
    it: :func:`shown_fields` for one field, cheap enough for a log line on every transition."""
    kept = (task.redacted_view or {}).get("fields") or {}
    text = kept[name] if name in kept else getattr(task, SHOWN_FIELDS[name])
    if text is None or not task.secrets:
        return text  # type: ignore[no-any-return]
    hidden = SecretValues(str(value) for value in task.secrets.values() if value is not None)
    return hidden.redact(str(text))[: _TEXT_LIMITS.get(name)]


def erase_secrets(task: TaskRow | None, values: dict[str, Any]) -> dict[str, Any]:
    """`values` (the columns a change writes) with the task's secret values erased when the change ends the
    task (its status is in `TERMINAL`); unchanged otherwise (a requeue keeps them for the next attempt).

    A task's secrets must not outlive their use: an ended task keeps only their names (``secret_names``),
    and a retry takes the values again (`runplane.tasks.TaskManager.retry`). The texts shown later are
    redacted by the task's secret values when read; once the values are gone that is no longer possible,
    so with `task` (the row as it was, values and all) the texts written here (``message``,
    ``failure_message`` and the earlier attempts' messages) are redacted now, at rest. Without `task` (the
    store's own guarantee on every ending write) only the values are erased.
    """
    status = values.get("status")
    if not isinstance(status, str) or TaskStatus(status) not in TERMINAL:
        return values
    erased = {**values, "secrets": {}}
    if task is not None and task.secrets:
        hidden = SecretValues(str(value) for value in task.secrets.values() if value is not None)
        erased["redacted_view"] = redacted_view(task)
        erased.update(marked_texts(task))
        for name in ("message", "failure_message"):
            text = erased.get(name)
            if isinstance(text, str):
                erased[name] = hidden.redact(text)[:1024]
        if task.attempts:
            erased["attempts"] = [
                {**entry, "failure_message": hidden.redact(entry["failure_message"])}
                if entry.get("failure_message")
                else entry
                for entry in task.attempts
            ]
    return erased


@dataclass(frozen=True)
class Outcome:
    """What becomes of a task whose attempt failed: `values` to write (status `queued` when the retry
    policy runs it again, else `failed`) and the `retry` decision (None: failed for good)."""

    values: dict[str, Any]
    retry: retries.Retry | None

    @property
    def status(self) -> TaskStatus:
        return TaskStatus(self.values["status"])


def after_failure(
    task: TaskRow,
    reason: str,
    *,
    exit_code: int | None,
    text: str,
    now: datetime,
    requeue_message: Callable[[retries.Retry], str] | None = None,
    final_text: str | None = None,
    final_message: str | None = None,
) -> Outcome:
    """The one decision between requeue and fail when the task's current attempt fails with `reason`.

    `text` is the failure's message (what the attempt history keeps). When the task's retry policy
    (`runplane.retries.decide`) runs it again, the values queue it as its next attempt with the message
    `requeue_message(retry)` (default: the retry's own "Retrying after <text> …"); otherwise they end it
    `failed` with `final_text` (default `text`) as its failure message and `final_message` as its message
    (default ``Failed: <final_text>``). Messages are cut to the column's 1024 characters.
    """
    text = text[:1024]
    retry = retries.decide(task, reason, exit_code, now=now)
    if retry is not None:
        ended = retries.ended_attempt(
            task,
            status=S.failed,
            failure_reason=reason,
            failure_message=text,
            exit_code=exit_code,
            ended_at=now,
        )
        message = requeue_message(retry) if requeue_message is not None else retry.message(text)
        values = retries.requeue_values(task, ended, now=now, not_before=retry.not_before, message=message)
        return Outcome(values, retry)
    final_text = (final_text if final_text is not None else text)[:1024]
    values = {
        "status": S.failed,
        "failure_reason": reason,
        "failure_message": final_text,
        "message": (final_message if final_message is not None else f"Failed: {final_text}")[:1024],
        "ended_at": now,
    }
    return Outcome(values, None)
