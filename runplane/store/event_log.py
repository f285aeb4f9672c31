"""Reads, prunes and listens on the event log (the events table), and the queue figures written to it.

The live hub (`runplane.live.hub`) and `runplane.live.queue_stats` hold the rules (ordering, gaps,
tenancy, when to publish); the queries are here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import Row, delete, func, literal_column, or_, select, text
from sqlalchemy.engine import make_url

from runplane.lifecycle import LIVE
from runplane.store import events
from runplane.store.database import Database
from runplane.store.tables import EventRow, TaskRow, WorkerRow

_COLUMNS: Final = (
    EventRow.id,
    EventRow.topic,
    EventRow.task_id,
    EventRow.user_id,
    EventRow.data,
    EventRow.created_at,
)

EventRecord = Row[Any]
"""One stored event: ``id``, ``topic``, ``task_id``, ``user_id``, ``data``, ``created_at`` attributes."""


class EventLog:
    """The queries on one database's event log."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.postgres = db.backend == "postgresql"

    async def page(
        self,
        *,
        after: int,
        upto: int | None,
        limit: int,
        task_id: str | None = None,
        visible_to: tuple[str, Sequence[str]] | None = None,
    ) -> Sequence[EventRecord]:
        """Up to `limit` events with `after < id <= upto` (no upper bound: None), in id order; only the
        task's with `task_id`; with `visible_to` = (user id, public topics), only that user's events and
        the public topics' ones."""
        query = select(*_COLUMNS).where(EventRow.id > after).order_by(EventRow.id).limit(limit)
        if upto is not None:
            query = query.where(EventRow.id <= upto)
        if task_id is not None:
            query = query.where(EventRow.task_id == task_id)
        if visible_to is not None:
            user_id, public = visible_to
            query = query.where(or_(EventRow.user_id == user_id, EventRow.topic.in_(tuple(public))))
        async with self.db.reader() as session:
            return (await session.execute(query)).all()

    async def newest_id(self) -> int:
        """The id of the newest event (0 when there is none)."""
        async with self.db.reader() as session:
            newest = (await session.execute(select(func.max(EventRow.id)))).scalar_one()
        return int(newest or 0)

    async def read_after(
        self, cursor: int, limit: int, *, with_xmin: bool
    ) -> tuple[Sequence[EventRecord], int | None]:
        """Up to `limit` events after `cursor` in id order; with `with_xmin` (PostgreSQL), also the xmin
        of the snapshot the rows were read in (every transaction that ended before it is visible to the
        read), or None when no row came back (nothing after a gap, so nothing to decide about it).

        The xmin is a column of the same statement: one round trip, and exactly the read's snapshot (a
        statement of its own before the read would take an older one, which is also safe, but costs a
        round trip on every read while an id gap is open)."""
        columns: tuple[Any, ...] = _COLUMNS
        if with_xmin and self.postgres:
            columns = (
                *_COLUMNS,
                literal_column("pg_snapshot_xmin(pg_current_snapshot())::text").label("snapshot_xmin"),
            )
        query = select(*columns).where(EventRow.id > cursor).order_by(EventRow.id).limit(limit)
        async with self.db.reader() as session:
            rows = (await session.execute(query)).all()
        xmin = int(rows[0].snapshot_xmin) if rows and len(columns) > len(_COLUMNS) else None
        return rows, xmin

    async def snapshot_xmax(self) -> int | None:
        """PostgreSQL: the current snapshot's xmax (every transaction in flight now is below it); None on
        SQLite."""
        if not self.postgres:
            return None
        async with self.db.reader() as session:
            return await _snapshot_bound(session, "xmax")

    async def prune(self, cutoff: datetime) -> int:
        """Deletes events older than `cutoff`, always keeping the newest one; how many it deleted."""
        newest = select(func.max(EventRow.id)).scalar_subquery()
        async with self.db.session() as session:
            result = await session.execute(
                delete(EventRow).where(EventRow.created_at < cutoff, EventRow.id < newest)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    def listen_dsn(self) -> str:
        """The libpq connection string of this (PostgreSQL) database, for a LISTEN connection."""
        return make_url(self.db.url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _snapshot_bound(session: Any, which: Literal["xmin", "xmax"]) -> int:
    statement = text(f"SELECT pg_snapshot_{which}(pg_current_snapshot())::text")
    return int((await session.execute(statement)).scalar_one())


async def queue_figures(db: Database) -> dict[str, int]:
    """How many tasks are queued, preparing, running and collecting, and how many workers are active."""
    async with db.reader() as session:
        rows = await session.execute(
            select(TaskRow.status, func.count()).where(TaskRow.status.in_(LIVE)).group_by(TaskRow.status)
        )
        counts: dict[str, Any] = dict(rows.all())
        workers = await session.scalar(
            select(func.count()).select_from(WorkerRow).where(WorkerRow.status == "active")
        )
    found = {str(status): int(counts.get(status, 0)) for status in LIVE}
    found["workers"] = int(workers or 0)
    return found


async def publish_queue_stats_if_changed(db: Database, current: dict[str, int]) -> bool:
    """Appends a `queue_stats` event with `current` unless the newest one says the same; whether it did."""
    async with db.session() as session:
        newest = await session.scalar(
            select(EventRow.data)
            .where(EventRow.topic == events.QUEUE_STATS)
            .order_by(EventRow.id.desc())
            .limit(1)
        )
        if newest == current:
            return False
        await events.record(session, topic=events.QUEUE_STATS, data=current)
    return True
