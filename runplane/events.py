"""The event log: what happened to tasks and workers, appended in the transaction that made it happen.

Every state change writes one `EventRow` in the same transaction as the change itself, so an event exists
exactly when its change was committed (a rolled-back change leaves no event). The live streams, metrics
and dashboards of every API process read this table; writes are a single INSERT flushed with the
caller's own commit, so recording is cheap.

Topics and their `data`:

- ``task_update``: a task changed status: ``task_id``, ``status``, ``previous_status``, ``worker_id``,
  ``failure`` (null, or ``reason``/``message``/``exit_code``/``cancelled_by``).
- ``task_progress``: a task reported progress or a message: ``task_id``, ``progress``, ``message``.
- ``task_complete``: a task reached completed/failed/cancelled: ``task_id``, ``status``, ``failure``,
  ``duration_seconds`` (from start to end; null when it never started).
- ``worker_status``: ``worker_id``, ``name``, ``status`` (active/draining/offline) and ``change``
  (registered, draining, offline, lost).
- ``queue_stats``: counts of the queue (optional; not written by the scheduler today).
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from runplane import audit, metrics
from runplane.live import notify
from runplane.store import audit as audit_store
from runplane.store.tables import EventRow, TaskRow, WorkerRow, utcnow

TASK_UPDATE: Final = "task_update"
TASK_PROGRESS: Final = "task_progress"
TASK_COMPLETE: Final = "task_complete"
WORKER_STATUS: Final = "worker_status"
QUEUE_STATS: Final = "queue_stats"
TOPICS: Final = (TASK_UPDATE, TASK_PROGRESS, TASK_COMPLETE, WORKER_STATUS, QUEUE_STATS)


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
    session.add(
        EventRow(
            topic=topic, task_id=task_id, user_id=user_id, worker_id=worker_id, data=data, created_at=utcnow()
        )
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
    if previous == "queued" and row.status == "preparing":
        metrics.task_dispatched(row.queued_at)  # a worker's claim handed the task out
    if row.status in ("completed", "failed", "cancelled"):
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


async def task_progress(session: AsyncSession, row: TaskRow) -> None:
    await record(
        session,
        topic=TASK_PROGRESS,
        task_id=row.id,
        user_id=row.user_id,
        worker_id=row.worker_id,
        data={"task_id": row.id, "progress": row.progress, "message": row.message},
    )


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
