"""The event log's writers: what happened to tasks and workers, appended in the transaction that made it happen.

Every state change writes one `EventRow` in the same transaction as the change itself, so an event exists
exactly when its change was committed (a rolled-back change leaves no event). The live streams, metrics
and dashboards of every API process read this table; writes are a single Core INSERT in the
caller's own transaction, so recording is cheap.

Topics and their `data`:

- ``task_update``: a task changed status: ``task_id``, ``status``, ``previous_status``, ``worker_id``,
  ``failure`` (absent, or ``reason``/``message``/``exit_code``/``cancelled_by``); fields without a value
  are left out of every event (see `without_none`).
- ``task_progress``: a task reported progress or a message: ``task_id``, ``progress``, ``message``.
- ``task_complete``: a task reached completed/failed/cancelled: ``task_id``, ``status``, ``failure``,
  ``duration_seconds`` (from start to end; absent when it never started).
- ``worker_status``: ``worker_id``, ``name``, ``status`` (active/draining/offline) and ``change``
  (registered, draining, offline, lost).
- ``queue_stats``: the queue's figures (``queued``, ``preparing``, ``running``, ``collecting``,
  ``workers``), appended by every process's hub after changes (`runplane.live.queue_stats`), not in the
  transaction of a change.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final, cast

from sqlalchemy import Row, Table, event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from runplane import audit, metrics
from runplane.events import (
    QUEUE_STATS,
    TASK_COMPLETE,
    TASK_PROGRESS,
    TASK_UPDATE,
    TOPICS,
    WORKER_STATUS,
    without_none,
)
from runplane.lifecycle import TERMINAL, TaskStatus, shown_text
from runplane.store import audit as audit_store
from runplane.store import notify
from runplane.store.tables import EventRow, TaskRow, WorkerRow, utcnow

# One log line per task transition, written once the transaction that made it commits (a rolled-back
# change logs nothing): the console of `runplane up` is these lines and errors.
transitions_logger = logging.getLogger("runplane.tasks")
_TRANSITION_LINES: Final = "runplane.events.transition_lines"
_INSERT_EVENT: Final = insert(cast(Table, EventRow.__table__))

__all__ = [
    "QUEUE_STATS",
    "TASK_COMPLETE",
    "TASK_PROGRESS",
    "TASK_UPDATE",
    "TOPICS",
    "WORKER_STATUS",
    "ChangeBatch",
    "failure_data",
    "record",
    "task_changed",
    "task_progress",
    "tasks_progressed",
    "without_none",
    "worker_changed",
]


async def record(
    session: AsyncSession,
    *,
    topic: str,
    data: dict[str, Any],
    task_id: str | None = None,
    user_id: str | None = None,
    worker_id: str | None = None,
) -> None:
    """Appends an event in the caller's transaction (written when the caller commits)."""
    assert topic in TOPICS, topic
    # A Core INSERT, not an ORM add: no unit-of-work flush for a row nobody reads back in this session
    # (part of the API's fixed cost, docs/benchmarks.md). Pending ORM changes are flushed first, so the
    # statements reach the database in the order the caller made the changes, as before; a caller that
    # wrote with Core statements only (a task's submission) has none, and skips the flush's greenlet hop.
    if session.new or session.dirty or session.deleted:
        await session.flush()
    await session.execute(
        _INSERT_EVENT,
        {
            "topic": topic,
            "task_id": task_id,
            "user_id": user_id,
            "worker_id": worker_id,
            "data": without_none(data),
            "created_at": utcnow(),
        },
    )
    notify.mark(session)  # wakes the live readers when this transaction commits


def failure_data(row: TaskRow) -> dict[str, Any] | None:
    if row.failure_reason is None:
        return None
    return {
        "reason": row.failure_reason,
        "message": row.failure_message or row.failure_reason,
        "exit_code": row.exit_code,
        "cancelled_by": row.cancelled_by,
    }


async def task_changed(
    session: AsyncSession, row: TaskRow, *, previous: str | None, worker_id: str | None = None
) -> None:
    """`task_update` for a status change of `row` (already changed), and `task_complete` when it ended.

    `worker_id` names the worker involved when the row no longer does (a task taken back to the queue).
    """
    worker_id = worker_id or row.worker_id
    session.info.setdefault(_TRANSITION_LINES, []).append(_transition_line(row, previous, worker_id))
    await record(
        session,
        topic=TASK_UPDATE,
        task_id=row.id,
        user_id=row.user_id,
        worker_id=worker_id,
        data={
            "task_id": row.id,
            "status": row.status,
            "previous_status": previous,
            "worker_id": worker_id,
            "failure": failure_data(row),
        },
    )
    entry = audit.task_entry(row, previous=previous, worker_id=worker_id)
    if entry is not None:  # the audit chain records the same change, in the same transaction
        await audit_store.append(session, entry)
    if previous == TaskStatus.queued and row.status == TaskStatus.preparing:
        metrics.task_dispatched(row.queued_at)  # a worker's claim handed the task out
    if row.status in TERMINAL:
        duration = (
            round((row.ended_at - row.started_at).total_seconds(), 3)
            if row.started_at is not None and row.ended_at is not None
            else None
        )
        await record(
            session,
            topic=TASK_COMPLETE,
            task_id=row.id,
            user_id=row.user_id,
            worker_id=worker_id,
            data={
                "task_id": row.id,
                "status": row.status,
                "failure": failure_data(row),
                "duration_seconds": duration,
            },
        )


class ChangeBatch:
    """Status changes of several tasks in one transaction, written together: what `task_changed` writes for
    each (its `task_update`, its `task_complete` when it ended, its audit entry and log line), taken from
    the row as it is when `add` is called (a row changed twice in the batch — ``preparing → running →
    completed`` — is added after each change), then `write` puts all the events in with one INSERT and the
    audit entries with one `audit.append_many`, in the order they were added. The audit entries share one
    timestamp; the events keep each change's own time.
    """

    def __init__(self) -> None:
        self._events: list[dict[str, Any]] = []
        self._entries: list[audit.AuditEntry] = []
        self._lines: list[tuple[int, str, dict[str, Any]]] = []

    def __len__(self) -> int:
        return len(self._lines)

    def add(self, row: TaskRow, *, previous: str | None, worker_id: str | None = None) -> None:
        """Records `row`'s change from `previous` (the row already changed; see `task_changed`)."""
        worker_id = worker_id or row.worker_id
        now = utcnow()
        self._lines.append(_transition_line(row, previous, worker_id))
        failure = failure_data(row)
        update_data = {
            "task_id": row.id,
            "status": row.status,
            "previous_status": previous,
            "worker_id": worker_id,
            "failure": failure,
        }
        owner = {"task_id": row.id, "user_id": row.user_id, "worker_id": worker_id, "created_at": now}
        self._events.append({"topic": TASK_UPDATE, "data": without_none(update_data), **owner})
        entry = audit.task_entry(row, previous=previous, worker_id=worker_id)
        if entry is not None:
            self._entries.append(entry)
        if previous == TaskStatus.queued and row.status == TaskStatus.preparing:
            metrics.task_dispatched(row.queued_at)
        if row.status in TERMINAL:
            duration = (
                round((row.ended_at - row.started_at).total_seconds(), 3)
                if row.started_at is not None and row.ended_at is not None
                else None
            )
            complete_data = {
                "task_id": row.id,
                "status": row.status,
                "failure": failure,
                "duration_seconds": duration,
            }
            self._events.append({"topic": TASK_COMPLETE, "data": without_none(complete_data), **owner})

    async def write(self, session: AsyncSession) -> None:
        """Writes what was added, in the caller's transaction (nothing when nothing was)."""
        if not self._lines:
            return
        await session.flush()
        session.info.setdefault(_TRANSITION_LINES, []).extend(self._lines)
        await session.execute(_INSERT_EVENT, self._events)
        notify.mark(session)
        await audit_store.append_many(session, self._entries)
        self._events, self._entries, self._lines = [], [], []


def _transition_line(
    row: TaskRow, previous: str | None, worker_id: str | None
) -> tuple[int, str, dict[str, Any]]:
    """The level, text and structured fields of a task transition's log line."""
    text = f"task {row.id} ({shown_text(row, 'job_name')}): "
    text += row.status if previous is None else f"{previous} → {row.status}"
    if worker_id and row.status in (TaskStatus.preparing, TaskStatus.running):
        text += f" on worker {worker_id}"
    if row.status in TERMINAL and row.started_at and row.ended_at:
        text += f" after {(row.ended_at - row.started_at).total_seconds():.1f}s"
    if row.failure_reason is not None and row.status in (TaskStatus.failed, TaskStatus.cancelled):
        text += f": {row.failure_message or row.failure_reason}"
        if row.exit_code is not None:
            text += f" (exit code {row.exit_code})"
    level = logging.WARNING if row.status == TaskStatus.failed else logging.INFO
    fields = {
        "task_id": row.id,
        "status": row.status,
        "previous_status": previous,
        "worker_id": worker_id,
        "failure_reason": row.failure_reason,
    }
    return level, text, fields


@event.listens_for(Session, "after_commit")
def _log_transitions(session: Session) -> None:
    for level, text, fields in session.info.pop(_TRANSITION_LINES, ()):
        transitions_logger.log(level, "%s", text, extra=fields)


@event.listens_for(Session, "after_rollback")
def _forget_transitions(session: Session) -> None:
    session.info.pop(_TRANSITION_LINES, None)


async def task_progress(session: AsyncSession, row: TaskRow) -> None:
    await tasks_progressed(session, [row])


async def tasks_progressed(session: AsyncSession, rows: Sequence[TaskRow | Row[Any]]) -> None:
    """`task_progress` for each of `rows` (task rows, or rows of a statement returning the columns that
    event takes: id, user_id, worker_id, progress, message), in one INSERT; nothing when there are none."""
    if not rows:
        return
    await session.flush()
    now = utcnow()
    await session.execute(
        _INSERT_EVENT,
        [
            {
                "topic": TASK_PROGRESS,
                "task_id": row.id,
                "user_id": row.user_id,
                "worker_id": row.worker_id,
                "data": without_none({"task_id": row.id, "progress": row.progress, "message": row.message}),
                "created_at": now,
            }
            for row in rows
        ],
    )
    notify.mark(session)


async def worker_changed(session: AsyncSession, row: WorkerRow, *, change: str) -> None:
    await record(
        session,
        topic=WORKER_STATUS,
        worker_id=row.id,
        user_id=row.user_id,
        data={"worker_id": row.id, "name": row.name, "status": row.status, "change": change},
    )
    if change == "draining":
        await audit_store.append(
            session,
            audit.AuditEntry(
                event_type=audit.SCHEDULER_DRAIN,
                action="drain",
                resource=f"worker/{row.id}",
                metadata={"worker_id": row.id, "name": row.name, "owner": row.user_id},
            ),
        )
