"""Property: the Python fit rule (`scheduler.usable` + `scheduler.fits`, ordered by the aged priority of
`tasks.AgingPolicy`) and the claim statement's SQL (`store.claim`) choose the same task, on generated
fleets, queues, reservations and aging settings, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runplane.scheduler import Capacity, ClaimSpec, Demand, Hold, fits, usable
from runplane.settings import Settings
from runplane.store.claim import claim_statement
from runplane.store.database import Database
from runplane.store.tables import ReservationRow, ReservationWorkerRow, TaskRow, WorkerRow, utcnow
from runplane.store.workers import WorkerStore
from runplane.tasks import AgingPolicy

pytestmark = pytest.mark.integration

CLAIMING, ELSEWHERE = "wclaim", "welse"
USERS = ("u1", "u2")
GPU_NAMES = ("NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-40GB")
RESERVATION_IDS = ("r0", "r1", "r2")
# Multiples of 0.5 GiB add up exactly in binary floating point, in Python and in both databases.
memory = st.integers(min_value=1, max_value=16).map(lambda halves: halves / 2)


@dataclass(frozen=True)
class GenReservation:
    id: str
    user_id: str
    status: str
    window: str  # live, future or past
    worker_id: str
    cpu: int
    memory_gb: float
    gpus: int


@dataclass(frozen=True)
class GenTask:
    id: str
    user_id: str
    status: str
    priority: int
    cpu: int
    memory_gb: float
    gpu: int
    gpu_type: str | None
    node_count: int
    reservation_id: str | None
    # How long it has been queued when the claim runs (what aging raises its priority by).
    waited_minutes: float = 60.0


reservations_st = st.lists(
    st.builds(
        GenReservation,
        id=st.just(""),
        user_id=st.sampled_from(("u1", "u1", "u2")),
        status=st.sampled_from(("active", "active", "active", "cancelled", "expired")),
        window=st.sampled_from(("live", "live", "live", "future", "past")),
        worker_id=st.sampled_from((CLAIMING, CLAIMING, CLAIMING, ELSEWHERE)),
        cpu=st.integers(1, 4),
        memory_gb=memory,
        gpus=st.integers(0, 2),
    ),
    min_size=1,
    max_size=3,
)


def tasks_st(status: st.SearchStrategy[str], size: tuple[int, int]) -> st.SearchStrategy[list[GenTask]]:
    return st.lists(
        st.builds(
            GenTask,
            id=st.just(""),
            user_id=st.sampled_from(("u1", "u1", "u2")),
            status=status,
            priority=st.integers(1, 3),
            cpu=st.integers(1, 4),
            memory_gb=st.integers(1, 8).map(lambda halves: halves / 2),
            gpu=st.sampled_from((0, 0, 1, 2)),
            gpu_type=st.sampled_from((None, None, "H100", "A100")),
            node_count=st.sampled_from((1, 1, 1, 2)),
            reservation_id=st.sampled_from((None, None, "r0", "r0", "r1", "r2", "ghost")),
            waited_minutes=st.sampled_from((0.0, 1.5, 7.25, 30.0, 60.0, 61.75, 240.0)),
        ),
        min_size=size[0],
        max_size=size[1],
    )


free_st = st.builds(
    Capacity,
    cpu=st.integers(0, 10),
    memory_gb=st.integers(0, 32).map(lambda halves: halves / 2),
    gpu_names=st.lists(st.sampled_from(GPU_NAMES), max_size=3).map(tuple),
    gpus=st.integers(0, 4),
    slots=st.sampled_from((0, 1, 1, 1, 2, 3)),
)


def _reservation(
    user: str, window: str = "live", *, cpu: int = 1, memory_gb: float = 1.0, gpus: int = 0
) -> Any:
    return GenReservation("", user, "active", window, CLAIMING, cpu, memory_gb, gpus)


def _task(
    user: str, reservation: str | None = None, *, priority: int = 1, status: str = "queued", **demand: Any
) -> GenTask:
    values = {"cpu": 1, "memory_gb": 0.5, "gpu": 0, "gpu_type": None, **demand}
    return GenTask("", user, status, priority, node_count=1, reservation_id=reservation, **values)


BIG = Capacity(cpu=8, memory_gb=16.0, gpu_names=("NVIDIA H100 80GB HBM3",) * 2, gpus=2, slots=2)
# Cases every run checks, besides the generated ones: each is one way reservations change the choice.
EXAMPLES = [
    # Held GPUs keep another user's higher-priority task out; the owner's task in it runs.
    (BIG, [_reservation("u1", gpus=2)], [], [_task("u2", gpu=1, priority=3), _task("u1", "r0", gpu=2)]),
    # The one free slot is held.
    (replace(BIG, slots=1), [_reservation("u1")], [], [_task("u2")]),
    # Someone else's reservation is not usable; unreserved capacity is.
    (BIG, [_reservation("u2", cpu=2)], [], [_task("u1", "r0", priority=3), _task("u1", cpu=6)]),
    # Used up by its own running task: it holds nothing more, and its next task waits.
    (
        replace(BIG, cpu=6),
        [_reservation("u1", cpu=2)],
        [_task("u1", "r0", cpu=2, status="running")],
        [_task("u1", "r0", priority=3), _task("u2", cpu=6)],
    ),
    # A finished task of it uses nothing: the reservation's next task runs.
    (
        BIG,
        [_reservation("u1", cpu=2)],
        [_task("u1", "r0", cpu=2, status="completed")],
        [_task("u1", "r0", cpu=2), _task("u2", cpu=7, priority=3)],
    ),
    # A future reservation holds nothing yet, and its tasks wait.
    (BIG, [_reservation("u1", "future", cpu=8)], [], [_task("u1", "r0", priority=3), _task("u2", cpu=8)]),
]


# Cases where aging decides: a long wait lifts a low priority above a fresh high one (capped at +3 here),
# a slow rate does not yet, and a capped boost ties with the older task first.
AGED_EXAMPLES: list[tuple[Capacity, list[Any], list[Any], list[GenTask], AgingPolicy]] = [
    (
        BIG,
        [],
        [],
        [_task("u1", priority=3, waited_minutes=0.0), _task("u2", waited_minutes=30.0)],
        AgingPolicy(1.0, 3.0),
    ),
    (
        BIG,
        [],
        [],
        [_task("u1", priority=3, waited_minutes=0.0), _task("u2", waited_minutes=7.25)],
        AgingPolicy(0.1, 1000.0),
    ),
    (
        BIG,
        [],
        [],
        [_task("u1", priority=2, waited_minutes=60.0), _task("u2", priority=2, waited_minutes=240.0)],
        AgingPolicy(1.0, 1.0),
    ),
]


def window(kind: str, now: datetime) -> tuple[datetime, datetime]:
    hour = timedelta(hours=1)
    return {"live": (now - hour, now + hour), "future": (now + hour, now + 2 * hour)}.get(
        kind, (now - 2 * hour, now - hour)
    )


# Aging settings: none, capped after a few minutes, slow and never capped here.
aging_st = st.sampled_from(
    (AgingPolicy(0.0, 0.0), AgingPolicy(0.0, 0.0), AgingPolicy(1.0, 3.0), AgingPolicy(0.1, 1000.0))
)
NO_AGING = AgingPolicy(0.0, 0.0)


def queued_at(task: GenTask, now: datetime) -> datetime:
    return now - timedelta(minutes=task.waited_minutes)


def python_choice(
    free: Capacity,
    reservations: list[GenReservation],
    running: list[GenTask],
    queued: list[GenTask],
    aging: AgingPolicy = NO_AGING,
    now: datetime | None = None,
) -> str | None:
    """The task the Python rule picks: the best aged priority (then oldest, then id) that fits."""
    holds = []
    for r in reservations:
        if r.worker_id != CLAIMING or r.status != "active" or r.window != "live":
            continue
        mine = [t for t in running if t.reservation_id == r.id]
        holds.append(
            Hold(
                reservation_id=r.id,
                user_id=r.user_id,
                cpu=max(r.cpu - sum(t.cpu for t in mine), 0),
                memory_gb=max(r.memory_gb - sum(t.memory_gb for t in mine), 0.0),
                gpus=max(r.gpus - sum(t.gpu for t in mine), 0),
                slots=max(1 - len(mine), 0),
            )
        )
    fitting = [
        (index, task)
        for index, task in enumerate(queued)
        if free.slots >= 1
        and fits(
            Demand(task.cpu, task.memory_gb, task.gpu, task.gpu_type, task.node_count),
            usable(free, holds, task.reservation_id, task.user_id),
        )
    ]
    if not fitting:
        return None
    at = now or utcnow()
    _, best = min(
        fitting,
        key=lambda pair: (
            -aging.effective(pair[1].priority, queued_at(pair[1], at), at),
            -pair[1].waited_minutes,
            pair[1].id,
        ),
    )
    return best.id


def near_tie(queued: list[GenTask], aging: AgingPolicy, now: datetime) -> bool:
    """Two tasks queued at different times whose aged priorities differ by less than the databases'
    date arithmetic resolves (julianday is a double): which one SQL orders first is rounding, not rule."""
    aged = [(aging.effective(t.priority, queued_at(t, now), now), t.waited_minutes) for t in queued]
    return any(
        0 < abs(a - b) < 1e-4
        or (
            a == b
            and wa != wb
            and aging.rate_per_minute > 0
            and not (
                aging.rate_per_minute * wa >= aging.max_boost
                and aging.rate_per_minute * wb >= aging.max_boost
            )
        )
        for i, (a, wa) in enumerate(aged)
        for (b, wb) in aged[i + 1 :]
    )


def task_row(task: GenTask, *, queued_at: datetime, worker_id: str | None) -> TaskRow:
    return TaskRow(
        id=task.id,
        job_name="job",
        user_id=task.user_id,
        status=task.status,
        priority=task.priority,
        entrypoint="x",
        args=[],
        model_id=None,
        inputs={},
        snapshot_id=None,
        datasets=[],
        dataset_specs=[],
        cpu=task.cpu,
        memory_gb=task.memory_gb,
        gpu=task.gpu,
        gpu_type=task.gpu_type,
        node_count=task.node_count,
        reservation_id=task.reservation_id,
        plugin_configs={},
        max_retries=0,
        retry_count=0,
        retry_on=["worker_lost"],
        retry_on_exit_codes=[],
        retry_backoff_seconds=0,
        attempts=[],
        timeout_seconds=None,
        env={},
        secrets={},
        secret_names=[],
        metadata_={},
        experiment_id=None,
        run_label=None,
        random_seed=None,
        progress=0.0,
        message="Queued",
        failure_reason=None,
        failure_message=None,
        exit_code=None,
        cancelled_by=None,
        cancel_requested=False,
        worker_id=worker_id,
        created_at=queued_at,
        updated_at=queued_at,
        queued_at=queued_at,
        started_at=None,
        ended_at=None,
    )


def worker_row(worker_id: str, now: datetime) -> WorkerRow:
    return WorkerRow(
        id=worker_id,
        user_id="workers",
        name=worker_id,
        hostname=worker_id,
        version="1",
        status="active",
        cpu_cores=8,
        memory_gb=32,
        gpus=[],
        slots=4,
        connected_at=now,
        last_heartbeat=now,
        lease_expires_at=now + timedelta(minutes=5),
        drain_requested_at=None,
        offline_at=None,
    )


async def sql_choice(
    db: Database,
    free: Capacity,
    reservations: list[GenReservation],
    running: list[GenTask],
    queued: list[GenTask],
    now: datetime,
    aging: AgingPolicy = NO_AGING,
    *,
    single_statement: bool = False,
) -> str | None:
    """The task a claim picks (`WorkerStore.claim_one`, the claim's own path; with `single_statement`,
    the statement that orders the whole queue, which that path falls back to), in a transaction that is
    rolled back afterwards."""
    async with db.engine.connect() as connection:
        transaction = await connection.begin()
        try:
            session = AsyncSession(bind=connection)
            session.add_all([worker_row(CLAIMING, now), worker_row(ELSEWHERE, now)])
            for r in reservations:
                starts_at, expires_at = window(r.window, now)
                session.add(
                    ReservationRow(
                        id=r.id,
                        user_id=r.user_id,
                        status=r.status,
                        gpu_count=r.gpus,
                        gpu_type=None,
                        node_count=1,
                        cpu=r.cpu,
                        memory_gb=r.memory_gb,
                        starts_at=starts_at,
                        expires_at=expires_at,
                        created_at=now,
                        ended_at=None,
                    )
                )
            await session.flush()
            session.add_all(
                ReservationWorkerRow(reservation_id=r.id, worker_id=r.worker_id) for r in reservations
            )
            start = now - timedelta(hours=1)
            for task in running:
                session.add(task_row(task, queued_at=start, worker_id=CLAIMING))
            for task in queued:
                session.add(task_row(task, queued_at=queued_at(task, now), worker_id=None))
            await session.flush()
            spec = ClaimSpec(
                worker_id=CLAIMING,
                worker_name=CLAIMING,
                free=free,
                now=now,
                aging_rate=aging.rate_per_minute,
                aging_max_boost=aging.max_boost,
            )
            if single_statement:
                row = (await session.execute(*claim_statement(db.backend, spec))).first()
            else:
                row = await WorkerStore(db).claim_one(session, spec)
            return None if row is None else str(row.id)
        finally:
            await transaction.rollback()


def test_python_rule_and_claim_sql_choose_the_same_task(settings: Settings) -> None:
    with asyncio.Runner() as runner:
        db = Database(settings.sqlalchemy_url)
        checked: list[str | None] = []
        influenced: list[str | None] = []  # cases where reservations changed which task was chosen
        aged: list[str | None] = []  # cases where aging changed which task was chosen

        @examples(
            max_examples=150,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @_with_examples
        @given(
            free=free_st,
            reservations=reservations_st,
            running=tasks_st(st.sampled_from(("preparing", "running", "collecting", "completed")), (0, 3)),
            queued=tasks_st(st.just("queued"), (1, 5)),
            aging=aging_st,
        )
        def agree(
            free: Capacity,
            reservations: list[GenReservation],
            running: list[GenTask],
            queued: list[GenTask],
            aging: AgingPolicy,
        ) -> None:
            reservations = [_named(r, f"r{n}") for n, r in enumerate(reservations)]
            known = {r.id for r in reservations}
            # Running tasks belong to a reservation on the claiming worker (that is what they use up).
            running = [
                _named(t, f"run{n}")
                for n, t in enumerate(running)
                if t.reservation_id in known and t.status != "completed"
            ] + [_named(t, f"done{n}") for n, t in enumerate(running) if t.status == "completed"]
            queued = [_named(t, f"q{n}") for n, t in enumerate(queued)]
            now = utcnow()
            assume(not near_tie(queued, aging, now))
            active = [t for t in running if t.status != "completed"]
            expected = python_choice(free, reservations, active, queued, aging, now)
            chosen = runner.run(sql_choice(db, free, reservations, running, queued, now, aging))
            assert chosen == expected
            single = sql_choice(db, free, reservations, running, queued, now, aging, single_statement=True)
            assert runner.run(single) == expected
            checked.append(chosen)
            unreserved = [t for t in queued if t.reservation_id is None]
            if python_choice(free, [], [], unreserved, aging, now) != expected:
                influenced.append(chosen)
            if python_choice(free, reservations, active, queued, NO_AGING, now) != expected:
                aged.append(chosen)

        try:
            agree()
        finally:
            runner.run(db.close())
    # The generated cases are not all trivial: some claims chose a task and some chose none.
    assert any(choice is not None for choice in checked)
    assert any(choice is None for choice in checked)
    assert any(choice is None for choice in influenced)  # held capacity kept a task out
    assert any(choice is not None for choice in influenced)  # a task ran in its reservation
    assert aged  # waiting raised a task above a higher-priority one


def _with_examples(test: Any) -> Any:
    for free, reservations, running, queued, aging in AGED_EXAMPLES:
        test = example(free=free, reservations=reservations, running=running, queued=queued, aging=aging)(
            test
        )
    for free, reservations, running, queued in EXAMPLES:
        test = example(free=free, reservations=reservations, running=running, queued=queued, aging=NO_AGING)(
            test
        )
    return test


def _named(item: Any, new_id: str) -> Any:
    return type(item)(**{**item.__dict__, "id": new_id})


async def _two_open_claims(
    db: Database, now: datetime, tasks: list[TaskRow]
) -> tuple[str | None, str | None]:
    """`tasks` queued beside two idle workers; then a claim for each, in two transactions open at once
    (the first still open while the second claims); the ids they took."""
    async with db.session() as session:
        session.add_all([worker_row(CLAIMING, now), worker_row(ELSEWHERE, now)])
        await session.flush()
        session.add_all(tasks)
    free = Capacity(cpu=8, memory_gb=16.0, gpu_names=(), gpus=0, slots=4)
    store = WorkerStore(db)
    async with db.engine.connect() as first, db.engine.connect() as second:
        first_open, second_open = await first.begin(), await second.begin()
        spec = ClaimSpec(CLAIMING, CLAIMING, free, now, aging_rate=0.1, aging_max_boost=5.0)
        taken_first = await store.claim_one(AsyncSession(bind=first), spec)
        other = ClaimSpec(ELSEWHERE, ELSEWHERE, free, now, aging_rate=0.1, aging_max_boost=5.0)
        async with asyncio.timeout(30):  # a claim that waited for the first would never return
            taken_second = await store.claim_one(AsyncSession(bind=second), other)
        await first_open.commit()
        await second_open.commit()
    return (
        None if taken_first is None else str(taken_first.id),
        None if taken_second is None else str(taken_second.id),
    )


def test_a_claim_holds_only_the_task_it_takes(settings: Settings) -> None:
    """Two claims at once, the first still open: the second gets the task the first only looked at.

    X (priority 5, just queued) beats Y (priority 4, queued 5 minutes ago: 4 + 0.5 with aging 0.1 a
    minute, at most +5), so the first claim reads both levels and takes X. Y must stay free for the other
    claim: a claim that kept the rows it read locked (PostgreSQL) made it take nothing.
    """
    if not settings.sqlalchemy_url.startswith("postgresql"):
        pytest.skip("SQLite runs one claim at a time (its write lock): no claim overlaps another")

    async def run() -> tuple[str | None, str | None, list[tuple[str, str | None]]]:
        db = Database(settings.sqlalchemy_url)
        now = utcnow()
        try:
            x, y = _task("u1", priority=5), _task("u2", priority=4)
            first, second = await _two_open_claims(
                db,
                now,
                [
                    task_row(replace(x, id="X"), queued_at=now, worker_id=None),
                    task_row(replace(y, id="Y"), queued_at=now - timedelta(minutes=5), worker_id=None),
                ],
            )
            async with db.reader() as session:
                rows = await session.execute(select(TaskRow.id, TaskRow.worker_id).order_by(TaskRow.id))
                placed = [(task_id, worker_id) for task_id, worker_id in rows]
        finally:
            await db.close()
        return first, second, placed

    with asyncio.Runner() as runner:
        first, second, placed = runner.run(run())
    assert (first, second) == ("X", "Y")
    assert placed == [("X", CLAIMING), ("Y", ELSEWHERE)]


def test_a_claim_passes_by_the_task_another_open_claim_holds(settings: Settings) -> None:
    """The first claim, still open, holds X (the older of two equal tasks): the second takes X2 at once
    instead of waiting for the first to end (PostgreSQL; on SQLite claims do not overlap)."""
    if not settings.sqlalchemy_url.startswith("postgresql"):
        pytest.skip("SQLite runs one claim at a time (its write lock): no claim overlaps another")

    async def run() -> tuple[str | None, str | None]:
        db = Database(settings.sqlalchemy_url)
        now = utcnow()
        try:
            task = _task("u1", priority=3)
            return await _two_open_claims(
                db,
                now,
                [
                    task_row(replace(task, id="X"), queued_at=now - timedelta(seconds=2), worker_id=None),
                    task_row(replace(task, id="X2"), queued_at=now - timedelta(seconds=1), worker_id=None),
                ],
            )
        finally:
            await db.close()

    with asyncio.Runner() as runner:
        assert runner.run(run()) == ("X", "X2")
