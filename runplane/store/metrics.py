"""The metrics' database figures: read-only aggregate queries over tasks, workers and events.

`runplane.metrics` turns them into Prometheus families; the SQL lives here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, extract, func, select
from sqlalchemy.sql.elements import ColumnElement

from runplane.lifecycle import TERMINAL
from runplane.store.database import Database
from runplane.store.tables import EventRow, TaskRow, WorkerRow


@dataclass(frozen=True)
class RawFigures:
    """Counts by status, the newest event id (0: none) and, for the wait and run seconds of started
    tasks, ``(count, sum, count under each bound...)`` in the order of the bounds asked for."""

    task_counts: dict[str, int]
    worker_counts: dict[str, int]
    newest_event: int
    wait: tuple[Any, ...]
    run: tuple[Any, ...]


def _seconds(dialect: str, start: Any, end: Any) -> ColumnElement[float]:
    """`end - start` in seconds, never negative (clocks of several hosts may differ slightly)."""
    if dialect == "postgresql":
        seconds: ColumnElement[Any] = extract("epoch", end - start)
        return func.greatest(seconds, 0.0)
    # SQLite keeps UTCDateTime as ISO text; julianday counts in days.
    return func.max((func.julianday(end) - func.julianday(start)) * 86400.0, 0.0)


def _durations_columns(seconds: Any, bounds: Sequence[float]) -> list[ColumnElement[Any]]:
    """count, sum and the count under each bound of a column of seconds (NULLs are not counted)."""
    return [
        func.count(seconds),
        func.coalesce(func.sum(seconds), 0.0),
        *(func.coalesce(func.sum(case((seconds <= bound, 1), else_=0)), 0) for bound in bounds),
    ]


async def figures(db: Database, dialect: str, bounds: tuple[float, ...]) -> RawFigures:
    """Four read-only aggregate queries in one session; the durations take one pass over started tasks.

    Each started task's wait and run seconds are computed once, in a CTE, and then compared with every
    bucket bound; SQLite is told to MATERIALIZED it, else it inlines the date arithmetic (julianday
    parsing, the costly part) into every bound's comparison.
    """
    finished = and_(TaskRow.status.in_(TERMINAL), TaskRow.ended_at.is_not(None))
    durations: Any = (
        select(
            _seconds(dialect, TaskRow.queued_at, TaskRow.started_at).label("wait"),
            case((finished, _seconds(dialect, TaskRow.started_at, TaskRow.ended_at)), else_=None).label(
                "run"
            ),
        )
        .where(TaskRow.started_at.is_not(None))
        .cte("durations")
    )
    if dialect == "sqlite" and sqlite3.sqlite_version_info >= (3, 35, 0):
        durations = durations.prefix_with("MATERIALIZED")
    async with db.reader() as session:
        tasks = await session.execute(select(TaskRow.status, func.count()).group_by(TaskRow.status))
        task_counts = {str(status): int(count) for status, count in tasks.all()}
        workers = await session.execute(select(WorkerRow.status, func.count()).group_by(WorkerRow.status))
        worker_counts = {str(state): int(count) for state, count in workers.all()}
        newest_event = await session.scalar(select(func.max(EventRow.id)))
        row = (
            await session.execute(
                select(
                    *_durations_columns(durations.c.wait, bounds),
                    *_durations_columns(durations.c.run, bounds),
                )
            )
        ).one()
    width = 2 + len(bounds)
    return RawFigures(
        task_counts=task_counts,
        worker_counts=worker_counts,
        newest_event=int(newest_event or 0),
        wait=tuple(row[:width]),
        run=tuple(row[width:]),
    )
