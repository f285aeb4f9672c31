"""Queries on tasks and idempotency records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, Table, and_, cast, func, insert, inspect, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import ColumnDefault

from runplane.lifecycle import (
    ACTIVE,
    RETRYABLE,
    TERMINAL,
    TaskStatus,
    erase_secrets,
    marked_texts,
    queued_cancel_values,
    redacted_view,
)
from runplane.store import events
from runplane.store.database import Database
from runplane.store.tables import IdempotencyRow, TaskRow, utcnow


async def keep_redacted_views(session: AsyncSession, *conditions: Any) -> None:
    """Before a write that ends the tasks matching `conditions` without reading them (a bulk cancel),
    keeps the redacted view of those holding secret values (`lifecycle.redacted_view`) and marks the
    values passed literally in their texts (`lifecycle.marked_texts`): the write erases the values
    (`lifecycle.erase_secrets`), after which such a value could no longer be hidden. In the caller's transaction; reads only the tasks that still hold values."""
    held = await session.scalars(select(TaskRow).where(*conditions, cast(TaskRow.secrets, String) != "{}"))
    views = [
        {"id": row.id, "redacted_view": redacted_view(row), **marked_texts(row)}
        for row in held.all()
        if row.secrets
    ]
    if views:
        await session.execute(update(TaskRow), views)


# A task's INSERT as a Core statement on the table, built once: submitting a task is the API's hottest
# write, and the ORM unit-of-work flush of its 58-column row added about 200 µs of CPU to the statement
# (docs/benchmarks.md, "The API's fixed cost"). The row object stays the caller's (transient) TaskRow.
_TASK_TABLE: Table = TaskRow.__table__  # type: ignore[assignment]  # a declarative class's table is a Table
_INSERT_TASK = insert(_TASK_TABLE)
_TASK_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (attribute.key, attribute.columns[0].key) for attribute in inspect(TaskRow).column_attrs
)
# Columns with a Python-side default that `new_task_row` may leave unset (the ORM applied these at flush).
_TASK_DEFAULTS: dict[str, Any] = {
    attribute: default.arg
    for attribute, name in _TASK_COLUMNS
    if isinstance(default := _TASK_TABLE.c[name].default, ColumnDefault) and not callable(default.arg)
}


def task_values(row: TaskRow) -> dict[str, Any]:
    """The INSERT parameters (by column name) of a new task `row`; unset defaulted attributes are set
    on `row` too, as an ORM flush would have set them."""
    for attribute, default in _TASK_DEFAULTS.items():
        if getattr(row, attribute) is None:
            setattr(row, attribute, default)
    return {column: getattr(row, attribute) for attribute, column in _TASK_COLUMNS}


class IdempotencyClash(Exception):
    """Another request stored the same idempotency key first."""


class TaskStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, row: TaskRow, *, idempotency: tuple[str, str] | None = None) -> None:
        """Stores the task, and its idempotency record in the same transaction."""
        try:
            async with self.db.session() as session:
                await session.execute(_INSERT_TASK, task_values(row))
                await events.task_changed(session, row, previous=None)
                if idempotency is not None:
                    key, request_hash = idempotency
                    session.add(
                        IdempotencyRow(
                            user_id=row.user_id,
                            key=key,
                            request_hash=request_hash,
                            task_id=row.id,
                            created_at=row.created_at,
                        )
                    )
        except IntegrityError as exc:
            if idempotency is not None:
                raise IdempotencyClash from exc
            raise

    async def idempotent(self, user_id: str, key: str) -> IdempotencyRow | None:
        async with self.db.reader() as session:
            return await session.get(IdempotencyRow, (user_id, key))

    async def get(self, task_id: str) -> TaskRow | None:
        async with self.db.reader() as session:
            return await session.get(TaskRow, task_id)

    async def status_and_retries(self, task_id: str) -> tuple[str, int] | None:
        """The task's status and retry_count, read fresh; None when there is no such task."""
        async with self.db.reader() as session:
            found = (
                await session.execute(
                    select(TaskRow.status, TaskRow.retry_count).where(TaskRow.id == task_id)
                )
            ).first()
        return None if found is None else (str(found[0]), int(found[1]))

    async def submitted_before(self, experiment_id: str, row: TaskRow) -> int:
        """How many of the experiment's tasks were submitted before `row` (ties broken by id)."""
        async with self.db.reader() as session:
            earlier = await session.scalar(
                select(func.count())
                .select_from(TaskRow)
                .where(
                    TaskRow.experiment_id == experiment_id,
                    or_(
                        TaskRow.created_at < row.created_at,
                        and_(TaskRow.created_at == row.created_at, TaskRow.id < row.id),
                    ),
                )
            )
        return int(earlier or 0)

    async def page(
        self, *, filters: dict[str, Any], limit: int, offset: int
    ) -> tuple[Sequence[TaskRow], int]:
        conditions = [getattr(TaskRow, name) == value for name, value in filters.items() if value is not None]
        async with self.db.reader() as session:
            total = await session.scalar(select(func.count()).select_from(TaskRow).where(*conditions)) or 0
            rows = await session.scalars(
                select(TaskRow)
                .where(*conditions)
                .order_by(TaskRow.created_at.desc(), TaskRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return rows.all(), total

    async def cancel_if_queued(self, task_id: str, cancelled_by: str) -> bool:
        """Queued → cancelled in one conditional UPDATE, so a worker's claim and a cancel never both win."""
        now = utcnow()
        async with self.db.session() as session:
            await keep_redacted_views(session, TaskRow.id == task_id, TaskRow.status == TaskStatus.queued)
            result = await session.execute(
                update(TaskRow)
                .where(TaskRow.id == task_id, TaskRow.status == TaskStatus.queued)
                .values(**erase_secrets(None, queued_cancel_values(cancelled_by, now=now)))
                .returning(TaskRow)
                .execution_options(synchronize_session=False, populate_existing=True)
            )
            row = result.scalars().first()
            if row is not None:
                await events.task_changed(session, row, previous=TaskStatus.queued)
        return row is not None

    async def request_cancel_if_active(self, task_id: str, cancelled_by: str) -> bool:
        """Asks the worker running the task to stop it (it reports `cancelled` once stopped).

        One conditional UPDATE: only an active task whose cancellation was not asked for yet.
        """
        async with self.db.session() as session:
            result = await session.execute(
                update(TaskRow)
                .where(
                    TaskRow.id == task_id,
                    TaskRow.status.in_(ACTIVE),
                    TaskRow.cancel_requested.is_(False),
                )
                .values(
                    cancel_requested=True,
                    cancelled_by=cancelled_by,
                    message="Cancellation requested",
                    updated_at=utcnow(),
                )
                .returning(TaskRow)
                .execution_options(synchronize_session=False, populate_existing=True)
            )
            row = result.scalars().first()
            if row is not None:
                await events.task_progress(session, row)
        return row is not None

    async def requeue_ended(self, seen: TaskRow, values: dict[str, Any]) -> TaskRow | None:
        """A failed or cancelled task back to the queue with `values`, if it is still as `seen` shows it
        (same status and retry count); None when it changed meanwhile (a concurrent retry won)."""
        async with self.db.session() as session:
            result = await session.execute(
                update(TaskRow)
                .where(
                    TaskRow.id == seen.id,
                    TaskRow.status == seen.status,
                    TaskRow.status.in_(RETRYABLE),
                    TaskRow.retry_count == seen.retry_count,
                )
                .values(**values)
                .returning(TaskRow)
                .execution_options(synchronize_session=False, populate_existing=True)
            )
            row = result.scalars().first()
            if row is not None:
                await events.task_changed(session, row, previous=seen.status)
        return row

    async def set_priority_if_queued(self, task_id: str, priority: int) -> bool:
        async with self.db.session() as session:
            result = await session.execute(
                update(TaskRow)
                .where(TaskRow.id == task_id, TaskRow.status == TaskStatus.queued)
                .values(priority=priority, updated_at=utcnow())
            )
        return bool(getattr(result, "rowcount", 0))

    async def counts_by_status(self, *, finished_since: datetime) -> dict[str, int]:
        async with self.db.reader() as session:
            live = await session.execute(
                select(TaskRow.status, func.count())
                .where(TaskRow.status.not_in(TERMINAL))
                .group_by(TaskRow.status)
            )
            finished = await session.execute(
                select(TaskRow.status, func.count())
                .where(TaskRow.status.in_(TERMINAL), TaskRow.ended_at >= finished_since)
                .group_by(TaskRow.status)
            )
            return {str(status): int(count) for status, count in [*live.all(), *finished.all()]}

    @staticmethod
    def day_ago() -> datetime:
        return utcnow() - timedelta(days=1)
