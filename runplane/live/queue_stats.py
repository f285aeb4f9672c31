"""`queue_stats` events: the queue's figures, written to the event log whenever they have changed.

Every process's hub sees every status change (`task_update`) and worker change (`worker_status`) of the
whole service; after one, it recounts the queue, at most once every `MIN_INTERVAL_SECONDS`, and appends
a `queue_stats` event when the figures differ from the newest one in the log. Live clients (the
dashboard's header, a queue monitor) thus follow the queue without polling `/v1/queue`. Processes that
recount at the same moment may each append the same figures once; a figure is never stale for longer
than the interval plus a poll.

The payload (`QueueStatsData`): `queued`, `preparing`, `running`, `collecting` (tasks in each state now,
as `/v1/queue` counts them) and `workers` (active workers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import func, select

from runplane import events
from runplane.lifecycle import LIVE
from runplane.store.tables import EventRow, TaskRow, WorkerRow

if TYPE_CHECKING:
    from runplane.store.database import Database

MIN_INTERVAL_SECONDS: Final = 1.0
TRIGGERS: Final = frozenset({events.TASK_UPDATE, events.WORKER_STATUS})
"""The topics whose events can change the queue's figures."""
COUNTED: Final = LIVE


async def figures(db: Database) -> dict[str, int]:
    """The queue's figures now (see the module docstring)."""
    async with db.reader() as session:
        rows = await session.execute(
            select(TaskRow.status, func.count()).where(TaskRow.status.in_(COUNTED)).group_by(TaskRow.status)
        )
        counts: dict[str, Any] = dict(rows.all())
        workers = await session.scalar(
            select(func.count()).select_from(WorkerRow).where(WorkerRow.status == "active")
        )
    found = {str(status): int(counts.get(status, 0)) for status in COUNTED}
    found["workers"] = int(workers or 0)
    return found


async def publish_if_changed(db: Database) -> dict[str, int] | None:
    """Appends a `queue_stats` event when the figures differ from the newest one; returns what it wrote."""
    current = await figures(db)
    async with db.session() as session:
        newest = await session.scalar(
            select(EventRow.data)
            .where(EventRow.topic == events.QUEUE_STATS)
            .order_by(EventRow.id.desc())
            .limit(1)
        )
        if newest == current:
            return None
        await events.record(session, topic=events.QUEUE_STATS, data=current)
    return current
