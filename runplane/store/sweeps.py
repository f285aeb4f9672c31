"""Queries on sweeps and their tasks: bulk creation, figures, the results table and bulk cancel.

Creation and cancellation touch up to 10,000 tasks, so they use SQLAlchemy Core statements (one
executemany insert, one UPDATE ... RETURNING) rather than ORM objects, and write the matching events in
the same transaction as :mod:`runplane.events` does for one task: the live events (``task_update``,
``task_complete``, ``task_progress``) and the audit chain's (`runplane.audit.task_entry`: ``job_queued``,
``job_cancelled``), the latter appended as one batch (`runplane.store.audit.append_many`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Final, cast

from anyio.lowlevel import checkpoint
from sqlalchemy import String, Table, bindparam, case, func, insert, null, or_, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import IntegrityError

from runplane import audit
from runplane.lifecycle import ACTIVE, CANCELLED_REASON, TaskStatus
from runplane.store import audit as audit_store
from runplane.store import events, notify
from runplane.store.database import Database
from runplane.store.tables import Base, EventRow, SweepRow, TaskRow, utcnow
from runplane.store.tasks import keep_redacted_views

QUEUED_CANCEL_MESSAGE = "Cancelled before it started"
# Tasks whose rows a bulk write builds (and converts) between two awaits: about 10-20 ms of the event
# loop's time each, where a 10,000-task cancel built in one go held it for seconds.
CHUNK: Final = 500
# The tables as Core sees them, for bulk inserts of plain mappings.
TASKS: Final = Base.metadata.tables[TaskRow.__tablename__]
EVENTS: Final = Base.metadata.tables[EventRow.__tablename__]
# True for a task whose views hide something in its variation (`runplane.lifecycle.shown_field`): it holds
# secret values or plugin configs, or kept a redacted view when its values were erased. Compared as the
# stored JSON text, so it may be true of a task with nothing to hide (`{ }`), never false of one with
# something: an empty object is written `{}` and a None `null` by the JSON type (SQL NULL also counts as none).
_HIDES: Final = or_(
    sql_cast(TaskRow.secrets, String) != "{}",
    sql_cast(TaskRow.plugin_configs, String) != "{}",
    sql_cast(TaskRow.redacted_view, String) != "null",
)


class SweepClash(Exception):
    """Another request stored a sweep under the same idempotency key first."""


@dataclass(frozen=True)
class SweepTaskView:
    """What a sweep's table needs of one task."""

    id: str
    status: str
    variation_index: int
    trial: int
    random_seed: int
    variation: dict[str, Any]
    summary: dict[str, Any]
    # What hides the task's secret values in `variation` (`runplane.lifecycle.shown_field`): its values
    # while it may run, the redacted copies kept once they were erased.
    secrets: dict[str, Any]
    plugin_configs: dict[str, Any]
    redacted_view: dict[str, Any] | None


class SweepStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, sweep: SweepRow, tasks: Sequence[dict[str, Any]]) -> None:
        """The sweep, its tasks and their `task_update` events, in one transaction.

        ``tasks`` are column → value mappings of the ``tasks`` table. Raises SweepClash when the sweep's
        idempotency key is already taken (nothing is written).
        """
        now = utcnow()
        event_rows = [
            {
                "topic": events.TASK_UPDATE,
                "task_id": task["id"],
                "user_id": task["user_id"],
                "worker_id": None,
                "data": {
                    "task_id": task["id"],
                    "status": TaskStatus.queued,
                    "previous_status": None,
                    "worker_id": None,
                    "failure": None,
                },
                "created_at": now,
            }
            for task in tasks
        ]
        # Bind values are converted (JSON, UTC timestamps, booleans) before the transaction begins, so that
        # on SQLite the write lock is held only while the rows are written.
        task_insert = self._prepared(TASKS, tasks)
        event_insert = self._prepared(EVENTS, event_rows)
        audit_entries = _audit_entries(tasks, previous=None)
        try:
            async with self.db.session() as session:
                session.add(sweep)
                await session.flush()
                connection = await session.connection()
                for statement, parameters in (task_insert, event_insert):
                    if parameters:
                        await connection.exec_driver_sql(statement, parameters)
                # job_queued for every task, as a single submit records it; last: the head's lock is held
                # from here to the commit.
                await audit_store.append_many(session, audit_entries)
                notify.mark(session)
        except IntegrityError as exc:
            if sweep.idempotency_key is not None:
                raise SweepClash from exc
            raise

    def _prepared(self, table: Table, rows: Sequence[dict[str, Any]]) -> tuple[str, Any]:
        """A Core INSERT of ``rows`` into ``table`` as the driver takes it: the SQL this dialect compiles and
        the rows' values through each column type's own bind processor (what Core's executemany does per
        row, done here once and outside the transaction). Every row has the same keys."""
        dialect = self.db.engine.dialect
        keys = list(rows[0]) if rows else [column.key for column in table.columns]
        compiled = insert(table).compile(dialect=dialect, column_keys=keys)
        processors = [(key, table.c[key].type.dialect_impl(dialect).bind_processor(dialect)) for key in keys]

        def converted(row: dict[str, Any]) -> dict[str, Any]:
            return {key: row[key] if process is None else process(row[key]) for key, process in processors}

        if compiled.positiontup is None:  # named parameters (psycopg)
            return compiled.string, [converted(row) for row in rows]
        order = compiled.positiontup
        return compiled.string, [tuple(values[key] for key in order) for values in map(converted, rows)]

    async def get(self, sweep_id: str) -> SweepRow | None:
        async with self.db.reader() as session:
            return await session.get(SweepRow, sweep_id)

    async def by_idempotency_key(self, user_id: str, key: str) -> SweepRow | None:
        async with self.db.reader() as session:
            found: SweepRow | None = await session.scalar(
                select(SweepRow).where(SweepRow.user_id == user_id, SweepRow.idempotency_key == key)
            )
            return found

    async def page(self, *, user_id: str | None, limit: int, offset: int) -> tuple[list[SweepRow], int]:
        conditions = [SweepRow.user_id == user_id] if user_id is not None else []
        async with self.db.reader() as session:
            total = await session.scalar(select(func.count()).select_from(SweepRow).where(*conditions)) or 0
            rows = await session.scalars(
                select(SweepRow)
                .where(*conditions)
                .order_by(SweepRow.created_at.desc(), SweepRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return list(rows.all()), int(total)

    async def status_figures(self, sweep_ids: Sequence[str]) -> dict[str, tuple[dict[str, int], float]]:
        """Per sweep: its tasks counted by status, and the summed progress (0..100 each) of active ones."""
        if not sweep_ids:
            return {}
        async with self.db.reader() as session:
            result = await session.execute(
                select(TaskRow.sweep_id, TaskRow.status, func.count(), func.sum(TaskRow.progress))
                .where(TaskRow.sweep_id.in_(sweep_ids))
                .group_by(TaskRow.sweep_id, TaskRow.status)
            )
            figures: dict[str, tuple[dict[str, int], float]] = {}
            for sweep_id, status, count, progress in result.all():
                counts, active = figures.setdefault(str(sweep_id), ({}, 0.0))
                counts[str(status)] = int(count)
                if status in ACTIVE:
                    figures[str(sweep_id)] = (counts, active + float(progress or 0.0))
            return figures

    async def tasks_of(self, sweep_id: str, *, completed_only: bool) -> list[SweepTaskView]:
        """The sweep's tasks in variation then trial order (only completed ones with ``completed_only``).

        ``secrets``, ``plugin_configs`` and ``redacted_view`` are read only for tasks where they may hide
        something (`_HIDES`); the others get them empty, as their stored values say: decoding three more
        JSON documents per task cost a 10,000-task table about a third of its CPU.
        """
        conditions = [TaskRow.sweep_id == sweep_id]
        if completed_only:
            conditions.append(TaskRow.status == TaskStatus.completed)
        async with self.db.reader() as session:
            result = await session.execute(
                select(
                    TaskRow.id,
                    TaskRow.status,
                    TaskRow.variation_index,
                    TaskRow.trial,
                    TaskRow.random_seed,
                    TaskRow.variation,
                    TaskRow.result_summary,
                    case((_HIDES, TaskRow.secrets), else_=null()),
                    case((_HIDES, TaskRow.plugin_configs), else_=null()),
                    case((_HIDES, TaskRow.redacted_view), else_=null()),
                )
                .where(*conditions)
                .order_by(TaskRow.variation_index, TaskRow.trial)
            )
            return [
                SweepTaskView(
                    task_id,
                    status,
                    int(index or 0),
                    int(trial or 1),
                    int(seed or 0),
                    variation or {},
                    summary or {},
                    secrets or {},
                    plugin_configs or {},
                    redacted_view,
                )
                for (
                    task_id,
                    status,
                    index,
                    trial,
                    seed,
                    variation,
                    summary,
                    secrets,
                    plugin_configs,
                    redacted_view,
                ) in result.all()
            ]

    async def set_summaries(self, summaries: Mapping[str, dict[str, Any]]) -> None:
        """Each task's results summary (task id → metric name → value), in one transaction: one UPDATE
        statement executed for all of them (an executemany)."""
        if not summaries:
            return
        statement = (
            update(TASKS)
            .where(TASKS.c.id == bindparam("task_id"))
            .values(result_summary=bindparam("summary", type_=TASKS.c.result_summary.type))
        )
        params = [{"task_id": task_id, "summary": summary} for task_id, summary in summaries.items()]
        async with self.db.session() as session:
            await session.execute(statement, params)

    async def cancel_unfinished(self, sweep_id: str, *, cancelled_by: str) -> tuple[int, int]:
        """Queued tasks → cancelled in one UPDATE; active ones get cancel requested in another (their
        workers stop them, as for one task). One transaction; returns (cancelled, asked to stop). The
        sweep's ``cancelled_at`` is set by the first cancel that found an unfinished task, never otherwise.

        The queued ones go first: a task a worker claims in between is active by the second statement.
        """
        now = utcnow()
        async with self.db.session() as session:
            await keep_redacted_views(
                session, TaskRow.sweep_id == sweep_id, TaskRow.status == TaskStatus.queued
            )
            cancelled = await session.execute(
                update(TaskRow)
                .where(TaskRow.sweep_id == sweep_id, TaskRow.status == TaskStatus.queued)
                .values(
                    status=TaskStatus.cancelled,
                    secrets={},  # ended: its secret values are erased (lifecycle.erase_secrets)
                    failure_reason=CANCELLED_REASON,
                    failure_message=QUEUED_CANCEL_MESSAGE,
                    cancelled_by=cancelled_by,
                    ended_at=now,
                    updated_at=now,
                    message="Cancelled",
                )
                .returning(TaskRow.id, TaskRow.user_id, TaskRow.kind)
                .execution_options(synchronize_session=False)
            )
            found = cancelled.all()
            cancelled_rows = [(task_id, user_id) for task_id, user_id, _ in found]
            stopping = await session.execute(
                update(TaskRow)
                .where(
                    TaskRow.sweep_id == sweep_id,
                    TaskRow.status.in_(ACTIVE),
                    TaskRow.cancel_requested.is_(False),
                )
                .values(
                    cancel_requested=True,
                    cancelled_by=cancelled_by,
                    message="Cancellation requested",
                    updated_at=now,
                )
                .returning(TaskRow.id, TaskRow.user_id, TaskRow.worker_id, TaskRow.progress)
                .execution_options(synchronize_session=False)
            )
            stopping_rows = stopping.all()
            connection = await session.connection()
            written = False
            # Up to 10,000 tasks: their events and audit entries are built and written CHUNK tasks at a
            # time, each chunk's statement awaited, so the event loop serves other requests between
            # chunks instead of waiting for the whole batch's Python work (seconds at 10,000 tasks).
            chunks = [
                *(
                    (cancelled_rows[start : start + CHUNK], [])
                    for start in range(0, len(cancelled_rows), CHUNK)
                ),
                *(
                    ([], stopping_rows[start : start + CHUNK])
                    for start in range(0, len(stopping_rows), CHUNK)
                ),
            ]
            for cancelled_chunk, stopping_chunk in chunks:
                event_rows = _cancel_events(cancelled_chunk, stopping_chunk, cancelled_by, now)
                if event_rows:
                    await connection.exec_driver_sql(*self._prepared(EVENTS, event_rows))
                    written = True
            if written:
                notify.mark(session)
            if cancelled_rows or stopping_rows:
                # The sweep reads as cancelled only when this cancel stopped something (a sweep whose
                # tasks had all finished is not cancelled by it), from the first such cancel on.
                await session.execute(
                    update(SweepRow)
                    .where(SweepRow.id == sweep_id, SweepRow.cancelled_at.is_(None))
                    .values(cancelled_at=now)
                )
            # job_cancelled for every queued task it cancelled, as a single cancel records it (last: the
            # audit head's lock is held from here to the commit).
            entries: list[audit.AuditEntry] = []
            for start in range(0, len(found), CHUNK):
                ended: list[dict[str, Any]] = [
                    {
                        "id": task_id,
                        "user_id": user_id,
                        "kind": kind,
                        "status": TaskStatus.cancelled,
                        "exit_code": None,
                        "failure_reason": CANCELLED_REASON,
                        "failure_message": QUEUED_CANCEL_MESSAGE,
                        "cancelled_by": cancelled_by,
                        "secrets": {},
                    }
                    for task_id, user_id, kind in found[start : start + CHUNK]
                ]
                entries += _audit_entries(ended, previous=TaskStatus.queued)
                await checkpoint()
            await audit_store.append_many(session, entries)
        return len(cancelled_rows), len(stopping_rows)


def _cancel_events(
    cancelled: Sequence[Any], stopping: Sequence[Any], cancelled_by: str, now: Any
) -> list[dict[str, Any]]:
    """The events :func:`runplane.events.task_changed` / ``task_progress`` write for these changes."""
    failure = {
        "reason": CANCELLED_REASON,
        "message": QUEUED_CANCEL_MESSAGE,
        "exit_code": None,
        "cancelled_by": cancelled_by,
    }
    rows: list[dict[str, Any]] = []
    for task_id, user_id in cancelled:
        common = {"task_id": task_id, "user_id": user_id, "worker_id": None, "created_at": now}
        rows.append(
            {
                **common,
                "topic": events.TASK_UPDATE,
                "data": {
                    "task_id": task_id,
                    "status": TaskStatus.cancelled,
                    "previous_status": TaskStatus.queued,
                    "worker_id": None,
                    "failure": failure,
                },
            }
        )
        rows.append(
            {
                **common,
                "topic": events.TASK_COMPLETE,
                "data": {
                    "task_id": task_id,
                    "status": TaskStatus.cancelled,
                    "failure": failure,
                    "duration_seconds": None,
                },
            }
        )
    for task_id, user_id, worker_id, progress in stopping:
        rows.append(
            {
                "task_id": task_id,
                "user_id": user_id,
                "worker_id": worker_id,
                "created_at": now,
                "topic": events.TASK_PROGRESS,
                "data": {"task_id": task_id, "progress": progress, "message": "Cancellation requested"},
            }
        )
    return rows


def _audit_entries(tasks: Sequence[dict[str, Any]], *, previous: str | None) -> list[audit.AuditEntry]:
    """The audit entries `runplane.audit.task_entry` makes for these tasks' change from `previous` (the
    tasks as column → value mappings, holding at least the columns that function reads)."""
    entries = []
    for task in tasks:
        row = cast(TaskRow, SimpleNamespace(**task))
        entry = audit.task_entry(row, previous=previous, worker_id=None)
        if entry is not None:
            entries.append(entry)
    return entries
