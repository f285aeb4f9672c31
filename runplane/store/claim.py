"""The claim statement: the scheduler's fit rule (`runplane.scheduler.fits` / `usable`) and order in SQL.

One statement per claim, per dialect (see `runplane.scheduler` for the rule and the locking story).
`tests/integration/test_scheduler_claim_agreement.py` proves this SQL and the Python rule choose the same
task on generated queues, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

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
from runplane.scheduler import ClaimSpec
from runplane.store.tables import (
    ReservationRow,
    ReservationWorkerRow,
    TaskPartRow,
    TaskRow,
    UTCDateTime,
    WorkerRow,
)


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
    part = aliased(TaskPartRow, name="part")
    # A gang of the reservation's has its rank 0 as the task's worker_id; its other parts here use it too.
    part_here = (
        part.task_id == running.id,
        part.worker_id == spec.worker_id,
        part.rank > 0,
        part.released.is_(False),
    )

    def used(column: Any) -> Any:
        tasks = select(func.coalesce(func.sum(column), 0)).where(*mine_here, active).scalar_subquery()
        parts = (
            select(func.coalesce(func.sum(column), 0))
            .where(running.reservation_id == res.id, active, *part_here)
            .scalar_subquery()
        )
        return tasks + parts

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
