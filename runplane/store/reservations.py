"""Queries on reservations: binding to workers, the derived `claimed` state, cancel and expiry.

A reservation's stored status is `active`, `expired` or `cancelled`; `claimed` is derived when it is read
(active, with a task of it in preparing / running / collecting), so a claim never has to write two tables.
Every state change is a conditional UPDATE, safe when reapers of several processes and cancels race.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, literal, select, text, update
from sqlalchemy.orm import aliased

from runplane.lifecycle import ACTIVE, CANCELLED_REASON, TaskStatus
from runplane.store import events
from runplane.store.database import Database
from runplane.store.tables import ReservationRow, ReservationWorkerRow, TaskRow, UTCDateTime, WorkerRow
from runplane.store.tasks import keep_redacted_views

_RETURNING = {"synchronize_session": False, "populate_existing": True}
# A constant key for pg_advisory_xact_lock: reservation bindings are decided one at a time.
_BINDING_LOCK = 0x52534556  # "RSEV"


@dataclass(frozen=True)
class Booked:
    """What reservations overlapping a time window hold on one worker, per node, added up."""

    cpu: int = 0
    memory_gb: float = 0.0
    gpus: int = 0
    slots: int = 0


@dataclass(frozen=True)
class StoredReservation:
    """A reservation row with its derived status, bound workers and active task ids."""

    row: ReservationRow
    status: str
    worker_ids: list[str]
    active_task_ids: list[str]


@dataclass(frozen=True)
class QueuedInReservation:
    """A queued task that names a reservation, and that reservation's row (None when it is gone)."""

    task: TaskRow
    reservation: ReservationRow | None
    status: str | None  # the reservation's derived status


# Chooses the workers for a new reservation from the active workers and what is booked on each; raises
# (a 409) when the fleet cannot hold it. Lives in runplane.reservations; the store only runs it in the
# transaction that inserts the binding.
Binder = Callable[[Sequence[WorkerRow], dict[str, Booked]], list[str]]


def _has_active_task(reservation: Any) -> ColumnElement[bool]:
    # An alias: queries that also select from tasks must not correlate this subquery to their row.
    running = aliased(TaskRow, name="running")
    return (
        select(running.id)
        .where(running.reservation_id == reservation.id, running.status.in_(ACTIVE))
        .exists()
    )


def derived_status() -> ColumnElement[str]:
    """The status as the contract shows it: `claimed` for an active reservation with a running task."""
    return case(
        (
            (ReservationRow.status == "active") & _has_active_task(ReservationRow),
            "claimed",
        ),
        else_=ReservationRow.status,
    )


def held_per_worker(
    now: datetime | None = None, *, overlapping: ReservationRow | None = None
) -> Select[str, int, float, int, int]:
    """Rows (worker_id, cpu, memory_gb, gpu_count, reservations) summing, per worker they are bound to,
    the per-node amounts of the active reservations live at `now`, or (with `overlapping`) of the other
    active reservations whose window overlaps that one's."""
    if overlapping is not None:
        window = [
            ReservationRow.id != overlapping.id,
            ReservationRow.starts_at < overlapping.expires_at,
            ReservationRow.expires_at > overlapping.starts_at,
        ]
    else:
        at = literal(now, UTCDateTime())
        window = [ReservationRow.starts_at <= at, ReservationRow.expires_at > at]
    return (
        select(
            ReservationWorkerRow.worker_id,
            func.sum(ReservationRow.cpu),
            func.sum(ReservationRow.memory_gb),
            func.sum(ReservationRow.gpu_count),
            func.count(),
        )
        .join(ReservationRow, ReservationRow.id == ReservationWorkerRow.reservation_id)
        .where(ReservationRow.status == "active", *window)
        .group_by(ReservationWorkerRow.worker_id)
    )


class ReservationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert_bound(
        self, row: ReservationRow, binder: Binder, *, owner_check: Callable[[int], None] | None = None
    ) -> list[str]:
        """Stores `row` bound to the workers `binder` picks, in one transaction; returns their ids.

        Bindings are serialized so two reservations never both count on the same free capacity: on
        PostgreSQL by a transaction-scoped advisory lock, on SQLite by inserting first (the insert takes
        the database's single write lock before anything is read). `owner_check`, when given, is called
        under the same serialization with the nodes (summed ``node_count``) the row's owner already holds
        in active reservations overlapping its window, and raises to refuse it.
        """
        async with self.db.session() as session:
            if self.db.engine.dialect.name == "postgresql":
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _BINDING_LOCK})
            session.add(row)
            await session.flush()
            if owner_check is not None:
                held = await session.scalar(
                    select(func.coalesce(func.sum(ReservationRow.node_count), 0)).where(
                        ReservationRow.id != row.id,
                        ReservationRow.user_id == row.user_id,
                        ReservationRow.status == "active",
                        ReservationRow.starts_at < row.expires_at,
                        ReservationRow.expires_at > row.starts_at,
                    )
                )
                owner_check(int(held or 0))  # raises: the transaction rolls back, nothing is stored
            workers = (await session.scalars(select(WorkerRow).where(WorkerRow.status == "active"))).all()
            booked = await self._booked(session, row)
            chosen = binder(workers, booked)  # raises: the transaction rolls back, nothing is stored
            session.add_all(ReservationWorkerRow(reservation_id=row.id, worker_id=w) for w in chosen)
            return chosen

    @staticmethod
    async def _booked(session: Any, row: ReservationRow) -> dict[str, Booked]:
        """Per worker: what other active reservations overlapping `row`'s window hold per node."""
        result = await session.execute(held_per_worker(overlapping=row))
        return {
            str(worker_id): Booked(int(cpu), float(memory), int(gpus), int(count))
            for worker_id, cpu, memory, gpus, count in result.all()
        }

    async def held_now(self, now: datetime) -> dict[str, Booked]:
        """Per worker: the per-node amounts of the reservations live at `now` bound to it, added up."""
        async with self.db.reader() as session:
            result = await session.execute(held_per_worker(now))
            return {
                str(worker_id): Booked(int(cpu), float(memory), int(gpus), int(count))
                for worker_id, cpu, memory, gpus, count in result.all()
            }

    async def get(self, reservation_id: str) -> StoredReservation | None:
        found = await self._load([ReservationRow.id == reservation_id], limit=1, offset=0)
        return found[0] if found else None

    async def page(
        self, *, user_id: str | None, status: str | None, limit: int, offset: int
    ) -> tuple[list[StoredReservation], int]:
        conditions: list[ColumnElement[bool]] = []
        if user_id is not None:
            conditions.append(ReservationRow.user_id == user_id)
        if status is not None:
            conditions.append(derived_status() == status)
        async with self.db.reader() as session:
            total = await session.scalar(select(func.count()).select_from(ReservationRow).where(*conditions))
        return await self._load(conditions, limit=limit, offset=offset), int(total or 0)

    async def _load(
        self, conditions: Sequence[ColumnElement[bool]], *, limit: int, offset: int
    ) -> list[StoredReservation]:
        async with self.db.reader() as session:
            result = await session.execute(
                select(ReservationRow, derived_status())
                .where(*conditions)
                .order_by(ReservationRow.created_at.desc(), ReservationRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            rows = result.all()
            ids = [row.id for row, _ in rows]
            workers: dict[str, list[str]] = {i: [] for i in ids}
            tasks: dict[str, list[str]] = {i: [] for i in ids}
            if ids:
                links = await session.execute(
                    select(ReservationWorkerRow.reservation_id, ReservationWorkerRow.worker_id)
                    .where(ReservationWorkerRow.reservation_id.in_(ids))
                    .order_by(ReservationWorkerRow.worker_id)
                )
                for reservation_id, worker_id in links.all():
                    workers[str(reservation_id)].append(str(worker_id))
                running = await session.execute(
                    select(TaskRow.reservation_id, TaskRow.id)
                    .where(TaskRow.reservation_id.in_(ids), TaskRow.status.in_(ACTIVE))
                    .order_by(TaskRow.id)
                )
                for owner_id, task_id in running.all():
                    tasks[str(owner_id)].append(str(task_id))
            return [
                StoredReservation(row, str(status), workers[row.id], tasks[row.id]) for row, status in rows
            ]

    async def end(
        self,
        *,
        status: str,
        now: datetime,
        message: str,
        reservation_id: str | None = None,
        cancelled_by: str | None = None,
    ) -> list[str]:
        """Active → `status` (cancelled: the one named; expired: every one past `expires_at`).

        In the same transaction the queued tasks that name an ended reservation are cancelled with
        `message` (they could never start), by `cancelled_by`. Returns the ids of the reservations it ended.
        """
        conditions = [ReservationRow.status == "active"]
        if reservation_id is not None:
            conditions.append(ReservationRow.id == reservation_id)
        else:
            conditions.append(ReservationRow.expires_at <= now)
        async with self.db.session() as session:
            result = await session.execute(
                update(ReservationRow)
                .where(*conditions)
                .values(status=status, ended_at=now)
                .returning(ReservationRow.id)
            )
            ended = [str(ended_id) for (ended_id,) in result.all()]
            for ended_id in ended:
                text_ = f"{message}: reservation {ended_id} {status}"
                await keep_redacted_views(
                    session, TaskRow.reservation_id == ended_id, TaskRow.status == TaskStatus.queued
                )
                tasks = await session.execute(
                    update(TaskRow)
                    .where(TaskRow.reservation_id == ended_id, TaskRow.status == TaskStatus.queued)
                    .values(
                        status=TaskStatus.cancelled,
                        secrets={},  # ended: its secret values are erased (lifecycle.erase_secrets)
                        failure_reason=CANCELLED_REASON,
                        failure_message=text_,
                        cancelled_by=cancelled_by,
                        ended_at=now,
                        updated_at=now,
                        message="Cancelled",
                    )
                    .returning(TaskRow)
                    .execution_options(**_RETURNING)
                )
                for task in tasks.scalars().all():
                    await events.task_changed(session, task, previous=TaskStatus.queued)
            return ended

    async def queued_in_reservations(self) -> list[QueuedInReservation]:
        """Queued tasks that name a reservation, with that reservation."""
        async with self.db.reader() as session:
            result = await session.execute(
                select(TaskRow, ReservationRow, derived_status())
                .outerjoin(ReservationRow, ReservationRow.id == TaskRow.reservation_id)
                .where(TaskRow.status == TaskStatus.queued, TaskRow.reservation_id.is_not(None))
                .execution_options(populate_existing=True)
            )
            return [QueuedInReservation(task, res, status) for task, res, status in result.all()]

    async def set_message(self, task: TaskRow, message: str, *, now: datetime) -> bool:
        """Sets a queued task's message (when it is still queued and says something else)."""
        async with self.db.session() as session:
            result = await session.execute(
                update(TaskRow)
                .where(
                    TaskRow.id == task.id,
                    TaskRow.status == TaskStatus.queued,
                    TaskRow.message.is_distinct_from(message),
                )
                .values(message=message, updated_at=now)
                .returning(TaskRow)
                .execution_options(**_RETURNING)
            )
            row = result.scalars().first()
            if row is not None:
                await events.task_progress(session, row)
            return row is not None
