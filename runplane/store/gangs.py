"""Queries on multi-node tasks' parts (`task_parts`) and the transactions that place and move gangs.

The rules are `runplane.gang`'s; this module holds the SQL and the locking that makes them safe with
several API processes:

- A claim that may place a gang first takes, on PostgreSQL, one transaction-scoped advisory lock (gang
  placements run one at a time) and then every active worker's row ``FOR UPDATE`` in id order; a claim
  that only takes single-node tasks locks its own worker's row. A placement and a claim on a worker it
  places a part on therefore never interleave, so the claim sees the part (and its resources) it must
  deliver. On SQLite the first statement of the claim is a write, which takes the database's write lock:
  the whole claim runs alone.
- A part's report locks its task's row first (PostgreSQL ``FOR UPDATE``; SQLite: the write lock), so two
  parts reporting at once see each other's state and the gang moves exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, literal, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from runplane.gang import PART_ENDED, Node
from runplane.lifecycle import ACTIVE, TaskStatus, erase_secrets
from runplane.scheduler import Capacity, Demand, capacity_of
from runplane.store import events
from runplane.store.claim import effective_priority, greatest
from runplane.store.database import Database
from runplane.store.reservations import held_per_worker
from runplane.store.rows import WORKERS
from runplane.store.tables import (
    ReservationRow,
    ReservationWorkerRow,
    TaskPartRow,
    TaskRow,
    UTCDateTime,
    WorkerRow,
)

_RETURNING = {"synchronize_session": False, "populate_existing": True}
# pg_advisory_xact_lock key that orders gang placements (any constant unique within runplane).
_GANG_LOCK = 727275


def _this_part(part: TaskPartRow) -> tuple[ColumnElement[bool], ...]:
    """The WHERE of one part's row: its primary key (task, attempt, rank)."""
    return (
        TaskPartRow.task_id == part.task_id,
        TaskPartRow.attempt == part.attempt,
        TaskPartRow.rank == part.rank,
    )


def demand_of(task: TaskRow) -> Demand:
    return Demand(
        cpu=task.cpu,
        memory_gb=task.memory_gb,
        gpu=task.gpu,
        gpu_type=task.gpu_type,
        node_count=task.node_count,
    )


@dataclass(frozen=True)
class PartView:
    """A part with its worker's name and address, for the task's `node_assignments`."""

    part: TaskPartRow
    worker_name: str | None
    address: str | None


async def lock_for_claim(session: AsyncSession, dialect: str, worker_id: str, *, gangs: bool) -> None:
    """The claim's locks (see the module's notes); the first statement of the claim's transaction."""
    if dialect == "postgresql":
        if gangs:
            await session.execute(text(f"SELECT pg_advisory_xact_lock({_GANG_LOCK})"))
            await session.execute(
                select(WorkerRow.id)
                .where(WorkerRow.status == "active")
                .order_by(WorkerRow.id)
                .with_for_update()
            )
        else:
            workers = WORKERS.c
            await session.execute(select(workers.id).where(workers.id == worker_id).with_for_update())
    else:
        # A no-op write: SQLite's write lock is taken now, before anything is read. On the table: an
        # ORM-enabled UPDATE costs several times the CPU (`runplane.store.rows`).
        workers = WORKERS.c
        await session.execute(update(WORKERS).where(workers.id == worker_id).values(status=workers.status))


_GANG_QUEUED: Final = (
    select(TaskRow.id).where(TaskRow.status == TaskStatus.queued, TaskRow.node_count > 1).limit(1)
)


async def gangs_waiting(db: Database) -> bool:
    """Whether any multi-node task is queued (a cheap read before the claim decides its locks)."""
    async with db.reader() as session:
        return await gangs_waiting_in(session)


async def gangs_waiting_in(session: AsyncSession) -> bool:
    """`gangs_waiting` in the caller's session (the claim's own transaction)."""
    return (await session.scalar(_GANG_QUEUED)) is not None


async def queued_in_order(
    session: AsyncSession, dialect: str, *, now: datetime, rate: float, max_boost: float, gangs_only: bool
) -> Sequence[TaskRow]:
    """Queued tasks past their backoff, best first (the claim's order); only multi-node ones, or only
    the head of the whole queue (one row) when `gangs_only` is false."""
    order = (
        effective_priority(dialect, TaskRow, now, rate=rate, max_boost=max_boost).desc(),
        TaskRow.queued_at.asc(),
        TaskRow.id.asc(),
    )
    conditions = [
        TaskRow.status == TaskStatus.queued,
        or_(TaskRow.not_before.is_(None), TaskRow.not_before <= literal(now, UTCDateTime())),
    ]
    query = select(TaskRow).order_by(*order)
    if gangs_only:
        query = query.where(*conditions, TaskRow.node_count > 1)
    else:
        query = query.where(*conditions).limit(1)
    rows = await session.scalars(query.execution_options(populate_existing=True))
    return rows.all()


async def nodes(session: AsyncSession, now: datetime) -> list[Node]:
    """Every active worker with its registered capacity and what it has free by the server's books:
    capacity less its active single-node tasks, its unreleased parts, and the whole per-node amounts of
    the reservations live on it at `now` (a gang that names no reservation never takes what one holds;
    counting a reservation's own running task twice only errs towards leaving it alone; a gang that
    names one sees `reservation_nodes`)."""
    workers = (await session.scalars(select(WorkerRow).where(WorkerRow.status == "active"))).all()
    used: dict[str, list[float]] = {}
    held = await session.execute(held_per_worker(now))
    singles = await session.execute(
        select(TaskRow.worker_id, func.sum(TaskRow.cpu), func.sum(TaskRow.memory_gb), func.sum(TaskRow.gpu))
        .add_columns(func.count())
        .where(TaskRow.status.in_(ACTIVE), TaskRow.node_count == 1, TaskRow.worker_id.is_not(None))
        .group_by(TaskRow.worker_id)
    )
    parts = await session.execute(
        select(
            TaskPartRow.worker_id,
            func.sum(TaskRow.cpu),
            func.sum(TaskRow.memory_gb),
            func.sum(TaskRow.gpu),
            func.count(),
        )
        .join(TaskRow, TaskRow.id == TaskPartRow.task_id)
        .where(TaskPartRow.released.is_(False))
        .group_by(TaskPartRow.worker_id)
    )
    for worker_id, cpu, memory, gpu, count in [*singles.all(), *parts.all(), *held.all()]:
        sums = used.setdefault(str(worker_id), [0, 0.0, 0, 0])
        sums[0] += int(cpu or 0)
        sums[1] += float(memory or 0.0)
        sums[2] += int(gpu or 0)
        sums[3] += int(count or 0)
    found = []
    for row in workers:
        total = capacity_of(row)
        cpu, memory, gpus, slots = used.get(row.id, [0, 0.0, 0, 0])
        free = Capacity(
            cpu=total.cpu - int(cpu),
            memory_gb=total.memory_gb - float(memory),
            gpu_names=total.gpu_names,
            gpus=total.gpus - int(gpus),
            slots=total.slots - int(slots),
        )
        found.append(Node(worker_id=row.id, total=total, free=free))
    return found


async def reservation_nodes(session: AsyncSession, task: TaskRow, now: datetime) -> list[Node] | None:
    """The workers a gang that names a reservation may use, with what each has free for it; None when
    the reservation is not live at `now` for the task's user (gone, ended, not started, another's).

    Those are the reservation's bound workers that are active. On each, a part may take what the worker
    has free by the server's books with this reservation's own hold given back (`nodes` takes every
    live hold off), but never more than the reservation still holds unused there: its per-node amounts
    less its active single-node tasks and unreleased parts on that worker (`runplane.reservations`).
    """
    reservation = await session.get(ReservationRow, task.reservation_id)
    if (
        reservation is None
        or reservation.status != "active"
        or reservation.user_id != task.user_id
        or not reservation.starts_at <= now < reservation.expires_at
    ):
        return None
    bound = set(
        (
            await session.scalars(
                select(ReservationWorkerRow.worker_id).where(
                    ReservationWorkerRow.reservation_id == reservation.id
                )
            )
        ).all()
    )
    mine = TaskRow.reservation_id == reservation.id
    singles = await session.execute(
        select(TaskRow.worker_id, func.sum(TaskRow.cpu), func.sum(TaskRow.memory_gb), func.sum(TaskRow.gpu))
        .where(mine, TaskRow.status.in_(ACTIVE), TaskRow.node_count == 1, TaskRow.worker_id.in_(bound))
        .group_by(TaskRow.worker_id)
    )
    parts = await session.execute(
        select(
            TaskPartRow.worker_id, func.sum(TaskRow.cpu), func.sum(TaskRow.memory_gb), func.sum(TaskRow.gpu)
        )
        .join(TaskRow, TaskRow.id == TaskPartRow.task_id)
        .where(mine, TaskPartRow.released.is_(False), TaskPartRow.worker_id.in_(bound))
        .group_by(TaskPartRow.worker_id)
    )
    used: dict[str, list[float]] = {}
    for worker_id, cpu, memory, gpu in [*singles.all(), *parts.all()]:
        sums = used.setdefault(str(worker_id), [0, 0.0, 0])
        sums[0] += int(cpu or 0)
        sums[1] += float(memory or 0.0)
        sums[2] += int(gpu or 0)
    found = []
    for node in await nodes(session, now):
        if node.worker_id not in bound:
            continue
        used_cpu, used_memory, used_gpus = used.get(node.worker_id, [0, 0.0, 0])
        free = node.free
        found.append(
            Node(
                worker_id=node.worker_id,
                total=node.total,
                free=Capacity(
                    cpu=min(free.cpu + reservation.cpu, reservation.cpu - int(used_cpu)),
                    memory_gb=min(
                        free.memory_gb + reservation.memory_gb, reservation.memory_gb - float(used_memory)
                    ),
                    gpu_names=free.gpu_names,
                    gpus=min(free.gpus + reservation.gpu_count, reservation.gpu_count - int(used_gpus)),
                    slots=free.slots + 1,  # the reservation's own slot, given back
                ),
            )
        )
    return found


async def undelivered(session: AsyncSession, worker_id: str) -> list[tuple[TaskRow, TaskPartRow]]:
    """Parts placed on this worker by another worker's claim, not handed over yet; now delivered."""
    result = await session.execute(
        select(TaskRow, TaskPartRow)
        .join(TaskPartRow, TaskPartRow.task_id == TaskRow.id)
        .where(
            TaskPartRow.worker_id == worker_id,
            TaskPartRow.delivered.is_(False),
            TaskPartRow.released.is_(False),
            TaskPartRow.attempt == TaskRow.retry_count + 1,
            TaskRow.status.in_(ACTIVE),
        )
        .order_by(TaskPartRow.created_at, TaskPartRow.task_id)
        .execution_options(populate_existing=True)
    )
    found = [(task, part) for task, part in result.all()]
    for _, part in found:
        await session.execute(update(TaskPartRow).where(*_this_part(part)).values(delivered=True))
    return found


async def place(
    session: AsyncSession,
    task: TaskRow,
    workers: Sequence[str],
    *,
    master_addr: str,
    master_port: int,
    message: str,
    now: datetime,
) -> TaskRow | None:
    """queued → preparing with one part per worker (rank = index; rank 0 delivered to the claimer at
    once); None when the task is no longer queued (another process placed or cancelled it)."""
    result = await session.execute(
        update(TaskRow)
        .where(TaskRow.id == task.id, TaskRow.status == TaskStatus.queued)
        .values(
            status=TaskStatus.preparing,
            worker_id=workers[0],
            master_addr=master_addr,
            master_port=master_port,
            message=message[:1024],
            updated_at=now,
        )
        .returning(TaskRow)
        .execution_options(**_RETURNING)
    )
    row = result.scalars().first()
    if row is None:
        return None
    attempt = row.retry_count + 1
    for rank, worker_id in enumerate(workers):
        session.add(
            TaskPartRow(
                task_id=row.id,
                attempt=attempt,
                rank=rank,
                worker_id=worker_id,
                status=TaskStatus.preparing,
                delivered=rank == 0,
                released=False,
                exit_code=None,
                failure_reason=None,
                message=None,
                created_at=now,
                updated_at=now,
            )
        )
    await session.flush()
    await events.task_changed(session, row, previous=TaskStatus.queued)
    return row


async def still_running(session: AsyncSession, task_id: str) -> set[str]:
    """Workers that still hold a part of an earlier attempt of this task (not given it again yet)."""
    result = await session.execute(
        select(TaskPartRow.worker_id).where(TaskPartRow.task_id == task_id, TaskPartRow.released.is_(False))
    )
    return {str(worker_id) for (worker_id,) in result.all()}


async def worker_address(session: AsyncSession, worker_id: str) -> str:
    row = await session.get(WorkerRow, worker_id)
    assert row is not None
    return row.address or row.hostname


# --- reading parts -------------------------------------------------------------------------------


class GangStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def dialect(self) -> str:
        return self.db.backend

    async def head(self, dialect: str, now: datetime, *, rate: float, max_boost: float) -> TaskRow | None:
        """The head of the whole queue in the claim's order (aging by `rate`/`max_boost`), or None."""
        async with self.db.reader() as session:
            rows = await queued_in_order(
                session, dialect, now=now, rate=rate, max_boost=max_boost, gangs_only=False
            )
            return rows[0] if rows else None

    async def fleet(self, now: datetime) -> list[Node]:
        """Every active worker with its capacity and what it has free now (for waiting reasons)."""
        async with self.db.reader() as session:
            return await nodes(session, now)

    async def reservation_fleet(self, task: TaskRow, now: datetime) -> list[Node] | None:
        """`reservation_nodes` of a gang that names a reservation (for its waiting reason)."""
        async with self.db.reader() as session:
            return await reservation_nodes(session, task, now)

    async def parts(self, task: TaskRow, attempt: int | None = None) -> list[PartView]:
        """The parts of the task's attempt (default: the current one), rank 0 first."""
        number = attempt if attempt is not None else task.retry_count + 1
        async with self.db.reader() as session:
            result = await session.execute(
                select(TaskPartRow, WorkerRow.name, WorkerRow.address, WorkerRow.hostname)
                .outerjoin(WorkerRow, WorkerRow.id == TaskPartRow.worker_id)
                .where(TaskPartRow.task_id == task.id, TaskPartRow.attempt == number)
                .order_by(TaskPartRow.rank)
                .execution_options(populate_existing=True)
            )
            return [
                PartView(part, name, address or hostname) for part, name, address, hostname in result.all()
            ]

    async def part_of(self, task_id: str, attempt: int, worker_id: str) -> TaskPartRow | None:
        """The part of attempt `attempt` of the task that `worker_id` runs, if any."""
        async with self.db.reader() as session:
            return await session.scalar(
                select(TaskPartRow)
                .where(
                    TaskPartRow.task_id == task_id,
                    TaskPartRow.attempt == attempt,
                    TaskPartRow.worker_id == worker_id,
                )
                .execution_options(populate_existing=True)
            )

    async def held_parts(self, worker_id: str) -> Sequence[tuple[TaskPartRow, TaskRow]]:
        """The worker's unreleased parts with their tasks (to stop or release them on a heartbeat)."""
        async with self.db.reader() as session:
            result = await session.execute(
                select(TaskPartRow, TaskRow)
                .join(TaskRow, TaskRow.id == TaskPartRow.task_id)
                .where(TaskPartRow.worker_id == worker_id, TaskPartRow.released.is_(False))
                .execution_options(populate_existing=True)
            )
            return [(part, task) for part, task in result.all()]

    async def release(self, parts: Sequence[TaskPartRow], *, now: datetime) -> None:
        """These parts no longer run on their worker: their resources are free again."""
        if not parts:
            return
        async with self.db.session() as session:
            for part in parts:
                await session.execute(
                    update(TaskPartRow).where(*_this_part(part)).values(released=True, updated_at=now)
                )

    async def orphaned(self) -> Sequence[tuple[TaskRow, TaskPartRow, str]]:
        """Active gangs with a running part whose worker is offline or unknown: (task, part, worker name)."""
        async with self.db.reader() as session:
            result = await session.execute(
                select(TaskRow, TaskPartRow, WorkerRow.name)
                .join(TaskPartRow, TaskPartRow.task_id == TaskRow.id)
                .outerjoin(WorkerRow, WorkerRow.id == TaskPartRow.worker_id)
                .where(
                    TaskRow.status.in_(ACTIVE),
                    TaskRow.node_count > 1,
                    TaskPartRow.attempt == TaskRow.retry_count + 1,
                    TaskPartRow.status.not_in(PART_ENDED),
                    or_(WorkerRow.id.is_(None), WorkerRow.status == "offline"),
                )
                .order_by(TaskRow.id, TaskPartRow.rank)
                .execution_options(populate_existing=True)
            )
            seen: set[str] = set()
            found = []
            for task, part, name in result.all():
                if task.id not in seen:  # the lowest lost rank names the failure
                    seen.add(task.id)
                    found.append((task, part, name or part.worker_id))
            return found

    # --- moving a gang -----------------------------------------------------------------------------

    async def move(
        self,
        expect: TaskRow,
        *,
        attempt: int,
        part_changes: dict[int, dict[str, Any]],
        task_values: dict[str, Any],
        stop_others: dict[str, Any] | None = None,
        progress: float | None = None,
    ) -> TaskRow | None:
        """One gang step in one transaction; None (nothing changed) when the task moved on meanwhile.

        The task's columns are set to `task_values` (which must change `updated_at`) only while it is
        still as `expect` shows it (status, attempt and `updated_at`): optimistic, so two parts
        reporting at once cannot both decide from the same state; the loser reads again and retries.
        Then `part_changes` (rank → values) are applied to the attempt's parts and, with `stop_others`,
        every other part that has not ended gets those values.
        """
        # An ending write never keeps the task's secret values (lifecycle.erase_secrets); the caller
        # redacts its texts with them first.
        task_values = erase_secrets(None, task_values)
        if progress is not None and "progress" not in task_values:
            # Progress never goes down within an attempt.
            task_values = {**task_values, "progress": greatest(self.dialect, TaskRow.progress, progress)}
        async with self.db.session() as session:
            result = await session.execute(
                update(TaskRow)
                .where(
                    TaskRow.id == expect.id,
                    TaskRow.status == expect.status,
                    TaskRow.retry_count == expect.retry_count,
                    TaskRow.updated_at == expect.updated_at,
                )
                .values(**task_values)
                .returning(TaskRow)
                .execution_options(**_RETURNING)
            )
            row = result.scalars().first()
            if row is None:
                return None
            for rank, values in part_changes.items():
                await session.execute(
                    update(TaskPartRow)
                    .where(
                        TaskPartRow.task_id == expect.id,
                        TaskPartRow.attempt == attempt,
                        TaskPartRow.rank == rank,
                    )
                    .values(**values)
                )
            if stop_others is not None:
                await session.execute(
                    update(TaskPartRow)
                    .where(
                        TaskPartRow.task_id == expect.id,
                        TaskPartRow.attempt == attempt,
                        TaskPartRow.rank.not_in(list(part_changes)),
                        TaskPartRow.status.not_in(PART_ENDED),
                    )
                    .values(**stop_others)
                )
            if row.status != expect.status:
                await events.task_changed(session, row, previous=expect.status)
            else:
                await events.task_progress(session, row)
            return row

    async def statuses(self, task_id: str, attempt: int) -> dict[int, str]:
        async with self.db.reader() as session:
            result = await session.execute(
                select(TaskPartRow.rank, TaskPartRow.status).where(
                    TaskPartRow.task_id == task_id, TaskPartRow.attempt == attempt
                )
            )
            return {int(rank): str(status) for rank, status in result.all()}
