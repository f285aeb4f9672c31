"""The claim statement: the scheduler's fit rule (`runplane.scheduler.fits` / `usable`) and order in SQL.

One statement per claim, per dialect (see `runplane.scheduler` for the rule and the locking story).
`tests/integration/test_scheduler_claim_agreement.py` proves this SQL and the Python rule choose the same
task on generated queues, on SQLite and PostgreSQL.

The statement is built once per dialect and shape (the worker's GPU names; whether it has a free slot)
and kept (`_cached_statement`); what changes per claim (the worker, the time, what is free, the aging
settings) is passed as bound parameters (`claim_statement` returns both). Building it anew for every
claim — four aliases of the tasks and reservations tables, each proxying every column — cost more CPU
than running it (issue 11 §2: a profile of the dispatch path).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Table,
    Update,
    and_,
    bindparam,
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

from runplane.lifecycle import ACTIVE, TaskStatus
from runplane.scheduler import ClaimSpec
from runplane.store.rows import TASK_COLUMNS, TASKS, WORKERS
from runplane.store.tables import (
    ReservationRow,
    ReservationWorkerRow,
    TaskPartRow,
    UTCDateTime,
)


def _least(dialect: str, a: Any, b: Any) -> ColumnElement[Any]:
    return func.least(a, b) if dialect == "postgresql" else func.min(a, b)


def greatest(dialect: str, a: Any, b: Any) -> ColumnElement[Any]:
    return func.greatest(a, b) if dialect == "postgresql" else func.max(a, b)


def _at(now: datetime | ColumnElement[Any]) -> ColumnElement[Any]:
    """`now` as a SQL value: a datetime becomes a literal, a bound parameter stays as it is."""
    return literal(now, UTCDateTime()) if isinstance(now, datetime) else now


def minutes_waited(dialect: str, queued_at: Any, now: datetime | ColumnElement[Any]) -> ColumnElement[float]:
    """Minutes from `queued_at` to `now` (a datetime or a bound parameter), never negative, in the
    dialect's date arithmetic."""
    if dialect == "postgresql":
        at = cast(_at(now), DateTime(timezone=True))
        minutes: ColumnElement[Any] = extract("epoch", at - queued_at) / 60.0
    else:
        # SQLite keeps UTCDateTime as 'YYYY-MM-DD HH:MM:SS.ffffff' text; julianday counts in days.
        minutes = (func.julianday(_at(now)) - func.julianday(queued_at)) * 1440.0
    return greatest(dialect, minutes, 0.0)


def effective_priority(
    dialect: str, table: Any, now: datetime | ColumnElement[Any], *, rate: Any, max_boost: Any
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


_RESERVATIONS: Table = ReservationRow.__table__  # type: ignore[assignment]
_RESERVATION_WORKERS: Table = ReservationWorkerRow.__table__  # type: ignore[assignment]
_PARTS: Table = TaskPartRow.__table__  # type: ignore[assignment]


class _Binds:
    """The claim's bound parameters: what changes from one claim to the next."""

    worker_id = bindparam("claim_worker_id", type_=TASKS.c.worker_id.type)
    now = bindparam("claim_now", type_=UTCDateTime())
    cpu = bindparam("claim_cpu", type_=TASKS.c.cpu.type)
    memory_gb = bindparam("claim_memory_gb", type_=TASKS.c.memory_gb.type)
    gpus = bindparam("claim_gpus", type_=TASKS.c.gpu.type)
    slots = bindparam("claim_slots", type_=TASKS.c.cpu.type)
    rate = bindparam("claim_aging_rate", type_=TASKS.c.memory_gb.type)
    max_boost = bindparam("claim_aging_max_boost", type_=TASKS.c.memory_gb.type)
    message = bindparam("claim_message", type_=TASKS.c.message.type)


def _reservation_sql(dialect: str, candidate: Any) -> list[ColumnElement[bool]]:
    """The reservation part of the fit rule (`usable`) in SQL, correlated to the candidate task (its
    columns: `candidate` is the alias's ``.c``).

    For each reservation live on this worker, what it still holds unused is computed from its per-node
    amounts less its own active tasks here; the candidate must fit the free capacity less what the
    reservations other than its own hold, and, when it names one, within what its own holds unused.
    """
    res_table = _RESERVATIONS.alias("res")
    link_table = _RESERVATION_WORKERS.alias("link")
    res, link = res_table.c, link_table.c
    running = TASKS.alias("running").c
    mine_here = (running.reservation_id == res.id, running.worker_id == _Binds.worker_id)
    active = running.status.in_(ACTIVE)
    part = _PARTS.alias("part").c
    # A gang of the reservation's has its rank 0 as the task's worker_id; its other parts here use it too.
    part_here = (
        part.task_id == running.id,
        part.worker_id == _Binds.worker_id,
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
        link.worker_id == _Binds.worker_id,
        res.status == "active",
        res.starts_at <= _Binds.now,
        res.expires_at > _Binds.now,
    )
    not_own = or_(candidate.reservation_id.is_(None), res.id != candidate.reservation_id)

    def held_by_others(name: str) -> Any:
        return (
            select(func.coalesce(func.sum(unused[name]), 0))
            .select_from(res_table)
            .join(link_table, live)
            .where(not_own)
            .scalar_subquery()
        )

    own = (
        select(res.id)
        .select_from(res_table)
        .join(link_table, live)
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
        candidate.cpu <= _Binds.cpu - held_by_others("cpu"),
        candidate.memory_gb <= _Binds.memory_gb - held_by_others("memory_gb"),
        candidate.gpu <= _Binds.gpus - held_by_others("gpus"),
        _Binds.slots - held_by_others("slots") >= 1,
        or_(candidate.reservation_id.is_(None), own),
    ]


def _reservation_fit(dialect: str, candidate: Any) -> ColumnElement[bool]:
    """The reservation part of the fit rule (`_reservation_sql`), cheap where no reservation is live on
    this worker: then it is only "the candidate names no reservation", and the per-candidate subqueries
    of the full rule (what every live reservation still holds) are never run.

    Both branches test one uncorrelated EXISTS (is a reservation live on this worker now?), which the
    database evaluates once per statement, and the first branch goes first, so a claim that scans a long
    queue does not run four correlated subqueries for each queued task (measured with 1,000 tasks
    queued: 5.0 ms per claim statement on PostgreSQL and 1.6 ms on SQLite before).
    """
    res_table = _RESERVATIONS.alias("live_res")
    link_table = _RESERVATION_WORKERS.alias("live_link")
    res, link = res_table.c, link_table.c
    reserved_here = (
        select(res.id)
        .select_from(res_table)
        .join(link_table, link.reservation_id == res.id)
        .where(
            link.worker_id == _Binds.worker_id,
            res.status == "active",
            res.starts_at <= _Binds.now,
            res.expires_at > _Binds.now,
        )
        .exists()
    )
    return or_(
        and_(candidate.reservation_id.is_(None), ~reserved_here),
        and_(reserved_here, *_reservation_sql(dialect, candidate)),
    )


def claim_statement(dialect: str, spec: ClaimSpec) -> tuple[Update, dict[str, Any]]:
    """The one statement that assigns the best fitting queued task to the worker (RETURNING the task),
    and its parameters for `spec`: ``session.execute(statement, params)``.

    The fit is `fits(demand, usable(free, holds, task.reservation_id, task.user_id))`, in SQL.
    """
    free = spec.free
    statement = _cached_statement(
        dialect, tuple(sorted({n.lower() for n in free.gpu_names if n})), free.slots >= 1
    )
    params = {
        "claim_worker_id": spec.worker_id,
        "claim_now": spec.now,
        "claim_cpu": free.cpu,
        "claim_memory_gb": free.memory_gb,
        "claim_gpus": free.gpus,
        "claim_slots": free.slots,
        "claim_aging_rate": spec.aging_rate,
        "claim_aging_max_boost": spec.aging_max_boost,
        "claim_message": f"Preparing on worker {spec.worker_name}",
    }
    return statement, params


@functools.lru_cache(maxsize=64)
def _cached_statement(dialect: str, gpu_names: tuple[str, ...], has_slot: bool) -> Update:
    """The claim statement of this dialect and shape, with `_Binds` for everything a claim changes.

    Written on the tables, not the ORM classes, and returning the task's columns (`runplane.store.rows`):
    an ORM-enabled UPDATE ... RETURNING runs the ORM's machinery on every execution, ~4x the CPU."""
    candidate_table = TASKS.alias("candidate")
    candidate = candidate_table.c
    workers = WORKERS.c
    worker_is_active = exists().where(workers.id == _Binds.worker_id, workers.status == "active")
    conditions = [
        candidate.status == TaskStatus.queued,
        candidate.node_count == 1,
        # A retried task waits out its backoff (runplane.retries) before any worker may take it.
        or_(candidate.not_before.is_(None), candidate.not_before <= _Binds.now),
        candidate.cpu <= _Binds.cpu,
        candidate.memory_gb <= _Binds.memory_gb,
        candidate.gpu <= _Binds.gpus,
        _gpu_type_sql(dialect, candidate, gpu_names),
        worker_is_active,
        _reservation_fit(dialect, candidate),
    ]
    if not has_slot:
        conditions.append(false())
    order = (
        effective_priority(
            dialect, candidate, _Binds.now, rate=_Binds.rate, max_boost=_Binds.max_boost
        ).desc(),
        candidate.queued_at.asc(),
        candidate.id.asc(),
    )
    chosen = select(candidate.id).where(and_(*conditions)).order_by(*order).limit(1)
    values = {
        "status": TaskStatus.preparing,
        "worker_id": _Binds.worker_id,
        "updated_at": _Binds.now,
        "message": _Binds.message,
    }
    tasks = TASKS.c
    if dialect == "postgresql":
        nxt = chosen.with_for_update(skip_locked=True, of=candidate_table).cte("next")
        # A scalar subquery, not ``UPDATE ... FROM next``: the planner then finds the task by its key
        # instead of joining every queued task to the CTE's row.
        target = tasks.id == select(nxt.c.id).scalar_subquery()
    else:
        target = tasks.id == chosen.scalar_subquery()
    return (
        update(TASKS)
        .where(target, tasks.status == TaskStatus.queued)
        .values(**values)
        .returning(*TASK_COLUMNS)
    )
