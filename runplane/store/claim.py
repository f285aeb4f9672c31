"""The claim's SQL: the scheduler's fit rule (`runplane.scheduler.fits` / `usable`) and order.

A worker with no live reservation claims along the priority levels (`choice_statement`, then on
PostgreSQL `lock_statement`, then `take_statement`); a worker in a live reservation by the one statement
that orders every fitting task (`claim_statement`). See
`runplane.scheduler` for the rule and the locking story, and `runplane.store.workers.WorkerStore.claim_one`
for the walk. `tests/integration/test_scheduler_claim_agreement.py` proves both ways and the Python rule
choose the same task on generated queues, on SQLite and PostgreSQL.

Each statement is built once per dialect and shape (the worker's GPU names; whether it has a free slot;
for `claim_statement`, whether a reservation is live on the worker) and kept (`functools.lru_cache`); what
changes per claim (the worker, the time, what is free, the aging settings, the level) is passed as bound
parameters (`_Binds`). Building them anew for every claim — aliases of the tasks and reservations tables,
each proxying every column — cost more CPU than running them (issue 11 §2: a profile of the dispatch path).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Select,
    Table,
    Update,
    all_,
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
from sqlalchemy.dialects import postgresql

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
    level = bindparam("claim_level", type_=TASKS.c.priority.type)


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


def _reservation_live() -> Select[Any]:
    """Whether a reservation is live on the worker ``claim_worker_id`` at ``claim_now`` (one row, a bool)."""
    res, link = _RESERVATIONS.c, _RESERVATION_WORKERS.c
    live = (
        select(res.id)
        .select_from(_RESERVATIONS.join(_RESERVATION_WORKERS, link.reservation_id == res.id))
        .where(
            link.worker_id == _Binds.worker_id,
            res.status == "active",
            res.starts_at <= _Binds.now,
            res.expires_at > _Binds.now,
        )
        .exists()
    )
    return select(live)


_RESERVATION_LIVE: Final = _reservation_live()


def reservation_live_statement(spec: ClaimSpec) -> tuple[Select[Any], dict[str, Any]]:
    """Whether a reservation is live on the claiming worker now: which claim statements fit its tasks.

    Without one (almost always), the reservation part of the fit rule is only "the task names no
    reservation" (`_reservation_sql` with nothing live: nothing held by others, no own reservation), and
    the claim's statements leave out its per-task subqueries, which cost more to plan and run than the
    rest. Read once per claim, in the claim's transaction, after its locks."""
    return _RESERVATION_LIVE, {"claim_worker_id": spec.worker_id, "claim_now": spec.now}


def _shape(spec: ClaimSpec) -> tuple[tuple[str, ...], bool]:
    """What a claim statement is built for (with the dialect and whether a reservation is live, its cache
    key): the worker's GPU names, whether a slot is free."""
    return tuple(sorted({n.lower() for n in spec.free.gpu_names if n})), spec.free.slots >= 1


def claim_params(spec: ClaimSpec) -> dict[str, Any]:
    """The bound parameters (`_Binds`) of the claim statements for `spec`."""
    free = spec.free
    return {
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


def claim_statement(dialect: str, spec: ClaimSpec, *, reserved: bool = True) -> tuple[Update, dict[str, Any]]:
    """The one statement that assigns the best fitting queued task to the worker (RETURNING the task),
    and its parameters for `spec`: ``session.execute(statement, params)``.

    The fit is `fits(demand, usable(free, holds, task.reservation_id, task.user_id))`, in SQL; with
    ``reserved=False`` (no reservation live on the worker: `reservation_live_statement`) its reservation
    part is only "the task names none". It orders every fitting queued task by effective priority, so its
    cost grows with the queue: a worker without a live reservation claims by `choice_statement` instead
    (see `runplane.store.workers.WorkerStore.claim_one`).
    """
    gpu_names, has_slot = _shape(spec)
    return _cached_statement(dialect, gpu_names, has_slot, reserved), claim_params(spec)


def choice_statement(dialect: str, spec: ClaimSpec) -> tuple[Select[Any], dict[str, Any]]:
    """The best fitting queued task of the highest priority level at or below ``claim_level`` (a bound
    parameter the caller adds), found along the tasks' ``(status, priority, queued_at, id)`` index rather than
    by ordering the whole queue, with what the caller needs to know whether a lower level could still
    beat it: columns ``id``, ``queued_at``, ``effective`` (its effective priority now) and ``next_level``
    (the highest level below its own with a fitting task; NULL when none).

    Why that is the claim's order (`claim_statement`'s ``effective priority DESC, queued_at, id``): the
    effective priority is ``priority + min(max_boost, rate * minutes waited)``, so within one priority
    level the task queued first is the best (a later one never has more boost), and a task of level
    ``p`` can reach at most ``p + max_boost``: levels are walked from the top until that bound falls
    below the best found. It locks nothing: on PostgreSQL the caller then locks the task it chose
    (`lock_statement`, ``SKIP LOCKED``) and, where another claim holds it, walks again leaving it out
    (``claim_skipped``, an array of ids; PostgreSQL only), so concurrent claims pass each other's tasks
    by, as the single statement does, and no task is held that is not taken.

    For a worker without a live reservation only (`reservation_live_statement`): the fit rule here has no
    reservation part but "the task names none".
    """
    gpu_names, has_slot = _shape(spec)
    return _cached_choice(dialect, gpu_names, has_slot), claim_params(spec)


def lock_statement() -> Select[Any]:
    """PostgreSQL: locks the task ``claim_task_id`` a walk chose, unless another transaction holds it
    (``SKIP LOCKED``: no waiting) or it is no longer queued; its id, or no row."""
    return _LOCK


def take_statement() -> Update:
    """Assigns the task ``claim_task_id`` (chosen by `choice_statement`, still queued) to the worker:
    `claim_statement`'s UPDATE for a task already chosen; the same parameters and RETURNING."""
    return _TAKE


def _fitting(
    dialect: str, candidate_table: Any, gpu_names: tuple[str, ...], has_slot: bool, reserved: bool
) -> list[Any]:
    """The fit rule's conditions on a queued task (`candidate_table`, an alias of the tasks table); with
    ``reserved=False`` the worker has no live reservation (see `reservation_live_statement`)."""
    candidate = candidate_table.c
    workers = WORKERS.c
    worker_is_active = exists().where(workers.id == _Binds.worker_id, workers.status == "active")
    conditions: list[Any] = [
        candidate.status == TaskStatus.queued,
        candidate.node_count == 1,
        # A retried task waits out its backoff (runplane.retries) before any worker may take it.
        or_(candidate.not_before.is_(None), candidate.not_before <= _Binds.now),
        candidate.cpu <= _Binds.cpu,
        candidate.memory_gb <= _Binds.memory_gb,
        candidate.gpu <= _Binds.gpus,
        _gpu_type_sql(dialect, candidate, gpu_names),
        worker_is_active,
    ]
    if reserved:
        conditions += _reservation_sql(dialect, candidate)
    else:
        conditions.append(candidate.reservation_id.is_(None))
    if not has_slot:
        conditions.append(false())
    return conditions


_CLAIMED_VALUES: dict[str, Any] = {
    "status": TaskStatus.preparing,
    "worker_id": _Binds.worker_id,
    "updated_at": _Binds.now,
    "message": _Binds.message,
}
_TASK_ID = bindparam("claim_task_id", type_=TASKS.c.id.type)
_LOCK = (
    select(TASKS.c.id)
    .where(TASKS.c.id == _TASK_ID, TASKS.c.status == TaskStatus.queued)
    .with_for_update(skip_locked=True)
)
_TAKE: Update = (
    update(TASKS)
    .where(TASKS.c.id == _TASK_ID, TASKS.c.status == TaskStatus.queued)
    .values(**_CLAIMED_VALUES)
    .returning(*TASK_COLUMNS)
)


# PostgreSQL: tasks a walk chose and found held by other claims, left out of its next read: one array
# parameter (an empty one leaves nothing out), so the statement's text, and its prepared plan, stay the same.
_SKIPPED = bindparam("claim_skipped", type_=postgresql.ARRAY(TASKS.c.id.type))


def _not_skipped(dialect: str, table: Any) -> list[ColumnElement[bool]]:
    return [table.id != all_(_SKIPPED)] if dialect == "postgresql" else []


@functools.lru_cache(maxsize=64)
def _cached_choice(dialect: str, gpu_names: tuple[str, ...], has_slot: bool) -> Select[Any]:
    """`choice_statement` of this dialect and shape (built once, like `_cached_statement`)."""
    candidate_table = TASKS.alias("candidate")
    level_table = TASKS.alias("level")
    below_table = TASKS.alias("below")
    candidate, level, below = candidate_table.c, level_table.c, below_table.c
    top_level = (
        select(level.priority)
        .where(
            *_fitting(dialect, level_table, gpu_names, has_slot, False),
            level.priority <= _Binds.level,
            *_not_skipped(dialect, level),
        )
        .order_by(level.priority.desc())
        .limit(1)
        .scalar_subquery()
    )
    next_level = (
        select(below.priority)
        .where(
            *_fitting(dialect, below_table, gpu_names, has_slot, False),
            below.priority < candidate.priority,
            *_not_skipped(dialect, below),
        )
        .order_by(below.priority.desc())
        .limit(1)
        .scalar_subquery()
    )
    effective = effective_priority(
        dialect, candidate, _Binds.now, rate=_Binds.rate, max_boost=_Binds.max_boost
    )
    chosen = (
        select(
            candidate.id, candidate.queued_at, effective.label("effective"), next_level.label("next_level")
        )
        .where(
            *_fitting(dialect, candidate_table, gpu_names, has_slot, False),
            candidate.priority == top_level,
            *_not_skipped(dialect, candidate),
        )
        .order_by(candidate.queued_at.asc(), candidate.id.asc())
        .limit(1)
    )
    return chosen


@functools.lru_cache(maxsize=64)
def _cached_statement(dialect: str, gpu_names: tuple[str, ...], has_slot: bool, reserved: bool) -> Update:
    """The claim statement of this dialect and shape, with `_Binds` for everything a claim changes.

    Written on the tables, not the ORM classes, and returning the task's columns (`runplane.store.rows`):
    an ORM-enabled UPDATE ... RETURNING runs the ORM's machinery on every execution, ~4x the CPU."""
    candidate_table = TASKS.alias("candidate")
    candidate = candidate_table.c
    conditions = _fitting(dialect, candidate_table, gpu_names, has_slot, reserved)
    order = (
        effective_priority(
            dialect, candidate, _Binds.now, rate=_Binds.rate, max_boost=_Binds.max_boost
        ).desc(),
        candidate.queued_at.asc(),
        candidate.id.asc(),
    )
    chosen = select(candidate.id).where(and_(*conditions)).order_by(*order).limit(1)
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
        .values(**_CLAIMED_VALUES)
        .returning(*TASK_COLUMNS)
    )
