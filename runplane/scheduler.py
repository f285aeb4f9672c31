"""Scheduling: which queued task a worker gets, why a task waits, and the reaper that recovers lost work.

The claim is ONE SQL statement per claim, built here per dialect:

- PostgreSQL: ``WITH next AS (SELECT id ... ORDER BY effective priority DESC, queued_at, id LIMIT 1
  FOR UPDATE OF candidate SKIP LOCKED) UPDATE tasks SET status='preparing', worker_id=... FROM next
  WHERE tasks.id = next.id AND tasks.status = 'queued' RETURNING tasks.*``. Concurrent claims skip the row
  another claim has locked and take the next one, so N workers claim N different tasks without waiting.
- SQLite: ``UPDATE tasks SET ... WHERE id = (SELECT id ... ORDER BY ... LIMIT 1) AND status = 'queued'
  RETURNING *``. SQLite runs one writer at a time and the statement takes the write lock before it reads,
  so the subquery and the update see the same state.

Effective priority is ``priority + min(aging_rate * minutes waited since queued_at, aging_max_boost)``,
computed in SQL (and by `runplane.tasks.AgingPolicy` for display as ``priority_aged``). A task fits a
worker when its cpu, memory_gb and gpu fit what the worker has free, its ``gpu_type`` is null or a
case-insensitive substring of one of the worker's GPU names ("H100" matches "NVIDIA H100 80GB HBM3"),
it needs one node (multi-node tasks are not scheduled yet), its retry backoff (``not_before``) has
passed and the worker has a free slot. Only an
``active`` worker gets work; a draining or offline one gets no assignment. Live reservations
(`runplane.reservations`) hold capacity on the workers they are bound to: a task that names none fits
the free capacity less what they hold there; a task that names its owner's live reservation fits only on
that reservation's workers, within what the reservation still holds unused (`usable`).

The `Reaper` runs in every API process, so everything it changes is a conditional UPDATE that is safe
when several reapers (and claims and reports) race: see `runplane.workers.WorkerManager.reap`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Update,
    and_,
    cast,
    exists,
    extract,
    false,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased

from runplane.lifecycle import ACTIVE, TaskStatus
from runplane.store.tables import (
    ReservationRow,
    ReservationWorkerRow,
    TaskRow,
    UTCDateTime,
    WorkerRow,
)

if TYPE_CHECKING:
    from runplane.workers import WorkerManager

logger = logging.getLogger("runplane.scheduler")

WAITING_PREFIX = "Waiting:"


# --- pure logic -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Demand:
    """What a task asks for."""

    cpu: int
    memory_gb: float
    gpu: int
    gpu_type: str | None
    node_count: int


@dataclass(frozen=True)
class Capacity:
    """What a worker has (in total, or free right now)."""

    cpu: int
    memory_gb: float
    gpu_names: tuple[str, ...]
    gpus: int
    slots: int


def gpu_type_matches(gpu_type: str | None, gpu_names: Sequence[str]) -> bool:
    """A null type matches anything; otherwise a case-insensitive substring of one of the GPU names."""
    if gpu_type is None:
        return True
    wanted = gpu_type.lower()
    return any(wanted in name.lower() for name in gpu_names)


@dataclass(frozen=True)
class Hold:
    """What one live reservation still holds unused on one worker.

    Its per-node cpu / memory_gb / gpu_count less what its own active tasks on that worker take, never
    below 0, and one task slot while none of its tasks runs there. A reservation is live from its
    `starts_at` until its `expires_at` while its stored status is `active` (Slurm's reservation window).
    """

    reservation_id: str
    user_id: str
    cpu: int
    memory_gb: float
    gpus: int
    slots: int


def usable(
    free: Capacity, holds: Sequence[Hold], reservation_id: str | None, user_id: str
) -> Capacity | None:
    """What a task may take on a worker whose `free` capacity is reduced by the reservations `holds`.

    A task that names no reservation gets the free capacity less everything the live reservations hold
    there. A task that names one gets, in every dimension but slots, at most what that reservation still
    holds unused there (it runs within its reservation), and never what other reservations hold. None
    when the task names a reservation that is not live on this worker for the task's own user: it may not
    run here at all. The claim statement's SQL applies the same rule (`claim_statement`).
    """
    own = None
    if reservation_id is not None:
        own = next((h for h in holds if h.reservation_id == reservation_id and h.user_id == user_id), None)
        if own is None:
            return None
    others = [hold for hold in holds if hold.reservation_id != reservation_id]
    cpu = free.cpu - sum(hold.cpu for hold in others)
    memory_gb = free.memory_gb - sum(hold.memory_gb for hold in others)
    gpus = free.gpus - sum(hold.gpus for hold in others)
    slots = free.slots - sum(hold.slots for hold in others)
    if own is not None:
        cpu, memory_gb, gpus = min(cpu, own.cpu), min(memory_gb, own.memory_gb), min(gpus, own.gpus)
    return Capacity(cpu=cpu, memory_gb=memory_gb, gpu_names=free.gpu_names, gpus=gpus, slots=slots)


def fits(demand: Demand, capacity: Capacity | None) -> bool:
    """The same rule as the claim's SQL, in Python (used for the waiting reasons).

    `capacity` is what the task may take on the worker (see `usable`); None means nothing.
    """
    if capacity is None:
        return False
    return (
        demand.node_count == 1
        and capacity.slots >= 1
        and demand.cpu <= capacity.cpu
        and demand.memory_gb <= capacity.memory_gb
        and demand.gpu <= capacity.gpus
        and gpu_type_matches(demand.gpu_type, capacity.gpu_names)
    )


def _gpus_wanted(demand: Demand) -> str:
    if not demand.gpu:
        return f"a GPU of type {demand.gpu_type}"
    kind = f" {demand.gpu_type}" if demand.gpu_type else ""
    return f"{demand.gpu}{kind} GPU(s)"


def unreserved(total: Capacity, held: Capacity | None) -> Capacity:
    """A worker's total capacity less what live reservations hold there (`held`, per dimension)."""
    if held is None:
        return total
    return Capacity(
        cpu=total.cpu - held.cpu,
        memory_gb=total.memory_gb - held.memory_gb,
        gpu_names=total.gpu_names,
        gpus=total.gpus - held.gpus,
        slots=total.slots - held.slots,
    )


def waiting_reason(
    demand: Demand, capacities: Sequence[Capacity], unreserved: Sequence[Capacity] | None = None
) -> str | None:
    """Why no active worker could ever run this task (by total capacity), or None when one could.

    With `unreserved` (the same workers' capacities less what live reservations hold, see `unreserved`),
    a task that some worker could run but for the reservations says it waits for reserved capacity.
    Tasks that name a reservation are explained by `runplane.reservations` instead.
    """
    if demand.node_count != 1:
        return f"{WAITING_PREFIX} multi-node tasks (node_count {demand.node_count}) are not scheduled yet"
    if not capacities:
        return f"{WAITING_PREFIX} no active worker is registered"
    if any(fits(demand, capacity) for capacity in capacities):
        if unreserved is not None and not any(fits(demand, capacity) for capacity in unreserved):
            return f"{WAITING_PREFIX} the capacity it needs is held by reservations until they end"
        return None
    missing = []
    if not any(c.cpu >= demand.cpu for c in capacities):
        missing.append(f"{demand.cpu} CPU core(s)")
    if not any(c.memory_gb >= demand.memory_gb for c in capacities):
        missing.append(f"{demand.memory_gb:g} GB of memory")
    if not any(c.gpus >= demand.gpu and gpu_type_matches(demand.gpu_type, c.gpu_names) for c in capacities):
        missing.append(_gpus_wanted(demand))
    if len(missing) == 1:
        return f"{WAITING_PREFIX} no active worker has {missing[0]}"
    if missing:
        return f"{WAITING_PREFIX} no active worker has {', '.join(missing[:-1])} or {missing[-1]}"
    wanted = [f"{demand.cpu} CPU core(s)", f"{demand.memory_gb:g} GB of memory"]
    if demand.gpu or demand.gpu_type:
        wanted.append(_gpus_wanted(demand))
    return f"{WAITING_PREFIX} no active worker has {', '.join(wanted[:-1])} and {wanted[-1]} together"


def capacity_of(row: WorkerRow) -> Capacity:
    """A worker's total capacity, from its registration."""
    names = tuple(str(gpu.get("name", "")) for gpu in row.gpus)
    return Capacity(
        cpu=row.cpu_cores, memory_gb=row.memory_gb, gpu_names=names, gpus=len(names), slots=row.slots
    )


# --- SQL ----------------------------------------------------------------------------------------------


def _least(dialect: str, a: Any, b: Any) -> ColumnElement[Any]:
    return func.least(a, b) if dialect == "postgresql" else func.min(a, b)


def greatest(dialect: str, a: Any, b: Any) -> ColumnElement[Any]:
    return func.greatest(a, b) if dialect == "postgresql" else func.max(a, b)


def minutes_waited(dialect: str, queued_at: Any, now: datetime) -> ColumnElement[float]:
    """Minutes from `queued_at` to `now`, never negative, in the dialect's date arithmetic."""
    if dialect == "postgresql":
        at = cast(literal(now, UTCDateTime()), DateTime(timezone=True))
        minutes: ColumnElement[Any] = extract("epoch", at - queued_at) / 60.0
    else:
        # SQLite keeps UTCDateTime as 'YYYY-MM-DD HH:MM:SS.ffffff' text; julianday counts in days.
        minutes = (func.julianday(literal(now, UTCDateTime())) - func.julianday(queued_at)) * 1440.0
    return greatest(dialect, minutes, 0.0)


def effective_priority(
    dialect: str, table: Any, now: datetime, *, rate: float, max_boost: float
) -> ColumnElement[float]:
    boost = _least(dialect, minutes_waited(dialect, table.queued_at, now) * rate, max_boost)
    result: ColumnElement[float] = table.priority + boost
    return result


def _gpu_type_sql(dialect: str, table: Any, gpu_names: Sequence[str]) -> ColumnElement[bool]:
    names = sorted({name.lower() for name in gpu_names if name})
    wanted = func.lower(table.gpu_type)
    if dialect == "postgresql":
        matches = [func.strpos(literal(name), wanted) > 0 for name in names]
    else:
        matches = [func.instr(literal(name), wanted) > 0 for name in names]
    return or_(table.gpu_type.is_(None), *matches) if matches else table.gpu_type.is_(None)


@dataclass(frozen=True)
class ClaimSpec:
    """Everything one claim needs: who claims, what it has free, and the aging settings."""

    worker_id: str
    worker_name: str
    free: Capacity
    now: datetime
    aging_rate: float
    aging_max_boost: float


def _reservation_sql(dialect: str, spec: ClaimSpec, candidate: Any) -> list[ColumnElement[bool]]:
    """The reservation part of the fit rule (`usable`) in SQL, correlated to the candidate task.

    For each reservation live on this worker, what it still holds unused is computed from its per-node
    amounts less its own active tasks here; the candidate must fit the free capacity less what the
    reservations other than its own hold, and, when it names one, within what its own holds unused.
    """
    res = aliased(ReservationRow, name="res")
    link = aliased(ReservationWorkerRow, name="link")
    running = aliased(TaskRow, name="running")
    mine_here = (running.reservation_id == res.id, running.worker_id == spec.worker_id)
    active = running.status.in_(ACTIVE)

    def used(column: Any) -> Any:
        return select(func.coalesce(func.sum(column), 0)).where(*mine_here, active).scalar_subquery()

    unused = {
        "cpu": greatest(dialect, res.cpu - used(running.cpu), 0),
        "memory_gb": greatest(dialect, res.memory_gb - used(running.memory_gb), 0.0),
        "gpus": greatest(dialect, res.gpu_count - used(running.gpu), 0),
        "slots": greatest(dialect, 1 - used(literal(1)), 0),
    }
    live = and_(
        link.reservation_id == res.id,
        link.worker_id == spec.worker_id,
        res.status == "active",
        res.starts_at <= literal(spec.now, UTCDateTime()),
        res.expires_at > literal(spec.now, UTCDateTime()),
    )
    not_own = or_(candidate.reservation_id.is_(None), res.id != candidate.reservation_id)

    def held_by_others(name: str) -> Any:
        return (
            select(func.coalesce(func.sum(unused[name]), 0))
            .select_from(res)
            .join(link, live)
            .where(not_own)
            .scalar_subquery()
        )

    free = spec.free
    own = (
        select(res.id)
        .select_from(res)
        .join(link, live)
        .where(
            res.id == candidate.reservation_id,
            res.user_id == candidate.user_id,
            candidate.cpu <= unused["cpu"],
            candidate.memory_gb <= unused["memory_gb"],
            candidate.gpu <= unused["gpus"],
        )
        .exists()
    )
    return [
        candidate.cpu <= free.cpu - held_by_others("cpu"),
        candidate.memory_gb <= free.memory_gb - held_by_others("memory_gb"),
        candidate.gpu <= free.gpus - held_by_others("gpus"),
        free.slots - held_by_others("slots") >= 1,
        or_(candidate.reservation_id.is_(None), own),
    ]


def claim_statement(dialect: str, spec: ClaimSpec) -> Update:
    """The one statement that assigns the best fitting queued task to the worker (RETURNING the task).

    The fit is `fits(demand, usable(free, holds, task.reservation_id, task.user_id))`, in SQL.
    """
    candidate = aliased(TaskRow, name="candidate")
    free = spec.free
    worker_is_active = exists().where(WorkerRow.id == spec.worker_id, WorkerRow.status == "active")
    conditions = [
        candidate.status == TaskStatus.queued,
        candidate.node_count == 1,
        # A retried task waits out its backoff (runplane.retries) before any worker may take it.
        or_(candidate.not_before.is_(None), candidate.not_before <= literal(spec.now, UTCDateTime())),
        candidate.cpu <= free.cpu,
        candidate.memory_gb <= free.memory_gb,
        candidate.gpu <= free.gpus,
        _gpu_type_sql(dialect, candidate, free.gpu_names),
        worker_is_active,
        *_reservation_sql(dialect, spec, candidate),
    ]
    if free.slots < 1:
        conditions.append(false())
    order = (
        effective_priority(
            dialect, candidate, spec.now, rate=spec.aging_rate, max_boost=spec.aging_max_boost
        ).desc(),
        candidate.queued_at.asc(),
        candidate.id.asc(),
    )
    chosen = select(candidate.id).where(and_(*conditions)).order_by(*order).limit(1)
    values = {
        "status": TaskStatus.preparing,
        "worker_id": spec.worker_id,
        "updated_at": spec.now,
        "message": f"Preparing on worker {spec.worker_name}",
    }
    if dialect == "postgresql":
        nxt = chosen.with_for_update(skip_locked=True, of=candidate).cte("next")
        target = TaskRow.id == nxt.c.id
    else:
        target = TaskRow.id == chosen.scalar_subquery()
    return (
        update(TaskRow)
        .where(target, TaskRow.status == TaskStatus.queued)
        .values(**values)
        .returning(TaskRow)
        .execution_options(synchronize_session=False, populate_existing=True)
    )


# --- the reaper ---------------------------------------------------------------------------------------


class Reaper:
    """Every `interval` seconds: recovers lost workers' tasks, finishes drains, explains waiting tasks.

    Each API process runs one; their passes may overlap freely (every change is a conditional UPDATE).
    `WorkerManager.reap()` is the single pass; tests call it directly instead of waiting for the loop.
    """

    def __init__(self, workers: WorkerManager, interval: float = 1.0) -> None:
        self.workers = workers
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="runplane-reaper")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            try:
                await self.workers.reap()
            except Exception:
                # A failed pass (database briefly away, a lost race) is retried on the next tick.
                logger.exception("reaper pass failed")
            await asyncio.sleep(self.interval)
