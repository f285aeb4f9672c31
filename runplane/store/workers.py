"""Queries on workers, and the task transitions workers cause (claim, report, requeue).

Every state change is a conditional UPDATE (the WHERE names the state it changes from), so concurrent
claims, reports, heartbeats, cancels and the reapers of several API processes never overwrite each
other: a change whose precondition no longer holds changes nothing and says so. Each change records its
event (`runplane.events`) in the same transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, String, Update, and_, bindparam, cast, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from runplane import gang
from runplane.gang import Claimed, Rank
from runplane.lifecycle import ACTIVE, TERMINAL, TaskStatus, erase_secrets
from runplane.scheduler import WAITING_PREFIX, Capacity, ClaimSpec, Demand
from runplane.store import events, gangs
from runplane.store.claim import choice_statement as claim_choice
from runplane.store.claim import (
    claim_statement,
    greatest,
    lock_statement,
    reservation_live_statement,
    take_statement,
)
from runplane.store.database import Database, Transaction
from runplane.store.rows import TASK_COLUMNS, TASKS, WORKERS, task_from, task_with
from runplane.store.tables import ReservationRow, TaskPartRow, TaskRow, WorkerRow


def _claim_order(row: Row[Any]) -> tuple[float, datetime, str]:
    """A chosen task's place in the claim's order (effective priority first, then queued_at, then id)."""
    return (-row.effective, row.queued_at, row.id)


def _less(free: Capacity, task: TaskRow) -> Capacity:
    return replace(
        free,
        cpu=free.cpu - task.cpu,
        memory_gb=free.memory_gb - task.memory_gb,
        gpus=free.gpus - task.gpu,
        slots=free.slots - 1,
    )


def _lesser(a: Capacity, b: Capacity) -> Capacity:
    return replace(
        a,
        cpu=min(a.cpu, b.cpu),
        memory_gb=min(a.memory_gb, b.memory_gb),
        gpus=min(a.gpus, b.gpus),
        slots=min(a.slots, b.slots),
    )


def _taken(spec: ClaimSpec, task: TaskRow) -> ClaimSpec:
    """`spec` with one more task's resources and slot taken off what is free."""
    return replace(spec, free=_less(spec.free, task))


# Applied to every ORM UPDATE ... RETURNING: the returned rows replace any loaded copy.
_RETURNING = {"synchronize_session": False, "populate_existing": True}
# Above every priority a task may have: the claim's walk over priority levels starts here.
_TOP_LEVEL = 2**31 - 1

# Called inside the transaction that ends tasks (their status became terminal), with the rows as the
# UPDATEs returned them: the tasks' run records go in with their ends (`runplane.results`).
EndingHook = Callable[[Sequence[TaskRow], Transaction], Awaitable[None]]


@dataclass(frozen=True)
class Reported:
    """A report recorded by `WorkerStore.report_unread`: the task as it is now, and the reporting
    worker's lease end as it was (for the caller's renewal when due)."""

    task: TaskRow
    lease_expires_at: datetime | None


@dataclass(frozen=True)
class BatchEnd:
    """What one task's end report writes in `WorkerStore.end_batch`: `values` (the end's columns), after
    `started` (a folded start's ``running`` columns) when the report says the process started."""

    values: dict[str, Any]
    started: dict[str, Any] | None = None


@functools.lru_cache(maxsize=64)
def _unread_statement(
    dialect: str,
    columns: tuple[str, ...],
    from_status: tuple[str, ...],
    *,
    attempt: bool,
    progress: bool,
    start: bool,
    secret_free: bool,
) -> Update:
    """The conditional UPDATE of `WorkerStore.report_unread` for this shape of report, built once and
    run with bound parameters (``set_<column>`` for each of `columns`, and ``report_task_id``,
    ``report_worker_id``, ``report_user_id``, ``report_retry_count``, ``report_progress``, ``report_start``): building it per report cost more CPU than
    running it, as with the claim (`runplane.store.claim`)."""
    tasks = TASKS.c
    workers = WORKERS.c
    worker = bindparam("report_worker_id", type_=tasks.worker_id.type)
    owned = (
        select(workers.id)
        .where(
            workers.id == worker,
            workers.user_id == bindparam("report_user_id", type_=workers.user_id.type),
        )
        .exists()
    )
    conditions: list[Any] = [
        tasks.id == bindparam("report_task_id", type_=tasks.id.type),
        tasks.worker_id == worker,
        tasks.status.in_(from_status),
        tasks.node_count == 1,  # a multi-node task's reports are its parts' (runplane.gangs)
        owned,
    ]
    if attempt:
        conditions.append(tasks.retry_count == bindparam("report_retry_count", type_=tasks.retry_count.type))
    if secret_free:
        # An ending write redacts the texts it writes by the task's secret values (erase_secrets): a task
        # holding any is read first.
        conditions.append(cast(tasks.secrets, String) == "{}")
    values: dict[str, Any] = {name: bindparam(f"set_{name}", type_=tasks[name].type) for name in columns}
    if progress:
        values["progress"] = greatest(
            dialect, tasks.progress, bindparam("report_progress", type_=tasks.progress.type)
        )
    if start:
        values["started_at"] = func.coalesce(
            tasks.started_at, bindparam("report_start", type_=tasks.started_at.type)
        )
    lease = select(workers.lease_expires_at).where(workers.id == worker).scalar_subquery()
    # On the tables, returning the task's columns (`runplane.store.rows`): ~4x cheaper than the ORM's.
    return update(TASKS).where(*conditions).values(**values).returning(*TASK_COLUMNS, lease)


@dataclass(frozen=True)
class ReaperProbe:
    """What `WorkerStore.reaper_probe` found: whether a reaper pass has work now (`due`), and when the
    earliest lease or reservation ends (`next_at`, UTC; None when nothing live has an end)."""

    due: bool
    next_at: datetime | None


@dataclass(frozen=True)
class Orphan:
    """An active task whose worker is gone, as seen before it is requeued or ended."""

    task: TaskRow
    worker_name: str


def _replaced() -> Any:
    """SQL: a later registration of the same worker exists (same user, name and hostname, connected after
    this one): the agent restarted and registered again, and this row is its history."""
    newer = aliased(WorkerRow)
    return (
        select(newer.id)
        .where(
            newer.user_id == WorkerRow.user_id,
            newer.name == WorkerRow.name,
            newer.hostname == WorkerRow.hostname,
            newer.connected_at > WorkerRow.connected_at,
        )
        .exists()
    )


def _replaced_offline() -> Any:
    """SQL: an offline worker replaced by a later registration (`_replaced`); one not yet offline still
    counts and is listed: it may still run (or be taken back from) its tasks."""
    return and_(WorkerRow.status == "offline", _replaced())


class WorkerStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def dialect(self) -> str:
        return self.db.backend

    # --- workers ------------------------------------------------------------------------------------

    async def insert(self, row: WorkerRow) -> None:
        async with self.db.session() as session:
            session.add(row)
            await events.worker_changed(session, row, change="registered")

    async def get(self, worker_id: str) -> WorkerRow | None:
        async with self.db.reader() as session:
            return await session.get(WorkerRow, worker_id)

    async def renew(self, worker_id: str, *, now: datetime, lease_expires_at: datetime) -> WorkerRow | None:
        """Renews the lease of a worker that is not offline; None when it is offline (drained or lost).

        A lease that ran out a moment ago is renewed too: the worker is lost only once the reaper says so
        (`mark_lost`, conditional as well), so a request the server was slow to serve does not lose it.
        """
        async with self.db.session() as session:
            result = await session.execute(
                update(WorkerRow)
                .where(WorkerRow.id == worker_id, WorkerRow.status.in_(("active", "draining")))
                .values(last_heartbeat=now, lease_expires_at=lease_expires_at)
                .returning(WorkerRow)
                .execution_options(**_RETURNING)
            )
            return result.scalars().first()

    async def drain(self, worker_id: str, *, now: datetime) -> WorkerRow | None:
        """active → draining; None when the worker was not active."""
        async with self.db.session() as session:
            result = await session.execute(
                update(WorkerRow)
                .where(WorkerRow.id == worker_id, WorkerRow.status == "active")
                .values(status="draining", drain_requested_at=now)
                .returning(WorkerRow)
                .execution_options(**_RETURNING)
            )
            row = result.scalars().first()
            if row is not None:
                await events.worker_changed(session, row, change="draining")
            return row

    async def mark_lost(self, *, now: datetime) -> Sequence[WorkerRow]:
        """Every live worker whose lease has ended → offline (each row is returned to one caller only)."""
        async with self.db.session() as session:
            result = await session.execute(
                update(WorkerRow)
                .where(WorkerRow.status.in_(("active", "draining")), WorkerRow.lease_expires_at < now)
                .values(status="offline", offline_at=now)
                .returning(WorkerRow)
                .execution_options(**_RETURNING)
            )
            rows = result.scalars().all()
            for row in rows:
                await events.worker_changed(session, row, change="lost")
            return rows

    async def finish_drains(self, *, now: datetime, worker_id: str | None = None) -> Sequence[WorkerRow]:
        """Draining workers with no active task → offline."""
        busy = select(TaskRow.id).where(TaskRow.worker_id == WorkerRow.id, TaskRow.status.in_(ACTIVE))
        part = select(TaskPartRow.rank).where(
            TaskPartRow.worker_id == WorkerRow.id, TaskPartRow.released.is_(False)
        )
        conditions = [WorkerRow.status == "draining", ~busy.exists(), ~part.exists()]
        if worker_id is not None:
            conditions.append(WorkerRow.id == worker_id)
        async with self.db.session() as session:
            result = await session.execute(
                update(WorkerRow)
                .where(*conditions)
                .values(status="offline", offline_at=now)
                .returning(WorkerRow)
                .execution_options(**_RETURNING)
            )
            rows = result.scalars().all()
            for row in rows:
                await events.worker_changed(session, row, change="offline")
            return rows

    async def page(
        self, *, status: str | None, limit: int, offset: int, include_replaced: bool = False
    ) -> tuple[Sequence[WorkerRow], int]:
        """A page of workers, newest registration first, and how many there are in all.

        Without `include_replaced`, an offline worker that a later registration replaced (`_replaced`)
        is left out: a restarted agent is listed once, as its current registration.
        """
        conditions: list[Any] = [WorkerRow.status == status] if status is not None else []
        if not include_replaced:
            conditions.append(~_replaced_offline())
        async with self.db.reader() as session:
            total = await session.scalar(select(func.count()).select_from(WorkerRow).where(*conditions)) or 0
            rows = await session.scalars(
                select(WorkerRow)
                .where(*conditions)
                .order_by(WorkerRow.connected_at.desc(), WorkerRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return rows.all(), total

    async def by_status(self, status: str) -> Sequence[WorkerRow]:
        async with self.db.reader() as session:
            rows = await session.scalars(select(WorkerRow).where(WorkerRow.status == status))
            return rows.all()

    async def counts_by_status(self) -> dict[str, int]:
        """status → how many workers, counted as the list shows them (replaced offline ones left out)."""
        async with self.db.reader() as session:
            result = await session.execute(
                select(WorkerRow.status, func.count()).where(~_replaced_offline()).group_by(WorkerRow.status)
            )
            return {str(status): int(count) for status, count in result.all()}

    async def replacements(self, rows: Sequence[WorkerRow]) -> dict[str, str]:
        """worker id → the id of the latest later registration that replaced it (`_replaced`), for those of
        `rows` that were replaced."""
        if not rows:
            return {}
        names = {row.name for row in rows}
        async with self.db.reader() as session:
            found = await session.execute(
                select(
                    WorkerRow.id,
                    WorkerRow.user_id,
                    WorkerRow.name,
                    WorkerRow.hostname,
                    WorkerRow.connected_at,
                )
                .where(WorkerRow.name.in_(names))
                .order_by(WorkerRow.connected_at.desc(), WorkerRow.id.desc())
            )
            registrations = found.all()
        latest: dict[tuple[str, str, str], tuple[str, datetime]] = {}
        for worker_id, user_id, name, hostname, connected_at in registrations:
            latest.setdefault((user_id, name, hostname), (worker_id, connected_at))
        replaced: dict[str, str] = {}
        for row in rows:
            newest = latest.get((row.user_id, row.name, row.hostname))
            if newest is not None and newest[1] > row.connected_at:
                replaced[row.id] = newest[0]
        return replaced

    async def active_tasks(self, worker_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """worker id → (task id, owner's user id) of its tasks in preparing, running or collecting
        (oldest claim first)."""
        if not worker_ids:
            return {}
        async with self.db.reader() as session:
            result = await session.execute(
                select(TaskRow.worker_id, TaskRow.id, TaskRow.user_id)
                .where(TaskRow.status.in_(ACTIVE), TaskRow.worker_id.in_(worker_ids))
                .order_by(TaskRow.updated_at, TaskRow.id)
            )
            # A multi-node task's parts count on each of their workers (rank 0's is the task's worker_id).
            parts = await session.execute(
                select(TaskPartRow.worker_id, TaskRow.id, TaskRow.user_id)
                .join(TaskRow, TaskRow.id == TaskPartRow.task_id)
                .where(
                    TaskPartRow.released.is_(False),
                    TaskPartRow.rank > 0,
                    TaskPartRow.worker_id.in_(worker_ids),
                    TaskRow.status.in_(ACTIVE),
                )
                .order_by(TaskPartRow.created_at, TaskRow.id)
            )
            found: dict[str, list[tuple[str, str]]] = {worker_id: [] for worker_id in worker_ids}
            for worker_id, task_id, user_id in [*result.all(), *parts.all()]:
                if (str(task_id), str(user_id)) not in found[str(worker_id)]:
                    found[str(worker_id)].append((str(task_id), str(user_id)))
            return found

    # --- tasks, as workers see them -----------------------------------------------------------------

    async def task(self, task_id: str) -> TaskRow | None:
        async with self.db.reader() as session:
            return await session.get(TaskRow, task_id, populate_existing=True)

    async def worker_and_task(self, worker_id: str, task_id: str) -> tuple[WorkerRow | None, TaskRow | None]:
        """The worker and the task, read in one session (None for either that does not exist)."""
        async with self.db.reader() as session:
            return await session.get(WorkerRow, worker_id), await session.get(TaskRow, task_id)

    async def tasks_to_stop(self, worker_id: str, held: Sequence[str]) -> list[str]:
        """Of the tasks a worker holds or is assigned: those it must stop (cancelled, or not its own)."""
        async with self.db.reader() as session:
            # Multi-node tasks' parts are answered by runplane.gangs (by part, not by task.worker_id).
            assigned = await session.execute(
                select(TaskRow.id).where(
                    TaskRow.worker_id == worker_id,
                    TaskRow.status.in_(ACTIVE),
                    TaskRow.cancel_requested.is_(True),
                    TaskRow.node_count == 1,
                )
            )
            stop = {str(task_id) for (task_id,) in assigned.all()}
            if held:
                mine = await session.execute(
                    select(TaskRow.id).where(
                        TaskRow.id.in_(held),
                        or_(
                            TaskRow.node_count > 1,
                            and_(TaskRow.worker_id == worker_id, TaskRow.status.in_(ACTIVE)),
                        ),
                    )
                )
                still_mine = {str(task_id) for (task_id,) in mine.all()}
                stop.update(task_id for task_id in held if task_id not in still_mine)
            return sorted(stop)

    async def forgotten(
        self, worker_id: str, held: Sequence[str], *, claimed_before: datetime
    ) -> Sequence[TaskRow]:
        """Tasks claimed for this worker long ago, still preparing, that the worker says it does not hold."""
        conditions = [
            TaskRow.worker_id == worker_id,
            TaskRow.status == TaskStatus.preparing,
            TaskRow.updated_at < claimed_before,
        ]
        if held:
            conditions.append(TaskRow.id.not_in(held))
        async with self.db.reader() as session:
            rows = await session.scalars(select(TaskRow).where(*conditions))
            return rows.all()

    async def claim(
        self, spec: ClaimSpec, *, max_tasks: int = 1, master_port: int | None = None
    ) -> list[Claimed]:
        """What the worker gets now, in one transaction: first the parts of multi-node tasks that other
        workers' claims placed on it, then multi-node tasks it can start as rank 0 (`runplane.gang`),
        then up to `max_tasks` queued single-node tasks, best first, that fit together in `spec.free`.

        Each assigned task's cores, memory, GPUs and slot are taken off what is free before the next one
        is chosen, so the tasks fit side by side. While the head of the queue is a gang waiting for
        this worker (`gang.hold_for`), it takes no single-node task. Empty when nothing fits.
        """
        async with self.db.session() as session:
            batch = events.ChangeBatch()
            waiting = await self._lock_for_claim(session, spec.worker_id)
            claimed = await self._claim_in(session, batch, spec, waiting, max_tasks, master_port)
            # The single-node tasks' events and audit entries in one batch (each task's own were three
            # statements); a placed gang's were written by its placement.
            await batch.write(session)
        return claimed

    async def _lock_for_claim(self, session: AsyncSession, worker_id: str) -> bool:
        """The claim's locks, first in its transaction; whether gangs wait in the queue. PostgreSQL:
        whether gangs wait decides the locks, and a read before them is as good as one in a transaction
        of its own. SQLite: the write lock comes first (its lock ignores `gangs`), since a transaction
        that read first may not write later."""
        if self.dialect == "postgresql":
            waiting = await gangs.gangs_waiting_in(session)
            await gangs.lock_for_claim(session, self.dialect, worker_id, gangs=waiting)
            return waiting
        await gangs.lock_for_claim(session, self.dialect, worker_id, gangs=False)
        return await gangs.gangs_waiting_in(session)

    async def _claim_in(
        self,
        session: AsyncSession,
        batch: events.ChangeBatch,
        spec: ClaimSpec,
        waiting: bool,
        max_tasks: int,
        master_port: int | None,
    ) -> list[Claimed]:
        """`claim`'s work in the open transaction, its locks taken (`waiting`: gangs wait); the single-node
        tasks' changes are added to `batch`."""
        claimed: list[Claimed] = []
        for task, part in await gangs.undelivered(session, spec.worker_id):
            claimed.append(Claimed(task, Rank(part.rank, task.node_count)))
            spec = _taken(spec, task)
        held = False
        if waiting:
            spec, held = await self._claim_gangs(session, spec, claimed, max_tasks, master_port)
        reserved = bool((await session.execute(*reservation_live_statement(spec))).scalar())
        while not held and len(claimed) < max_tasks and spec.free.slots >= 1:
            found = await self.claim_one(session, spec, reserved=reserved)
            if found is None:
                break
            row = task_from(found)
            batch.add(row, previous=TaskStatus.queued)
            claimed.append(Claimed(row))
            spec = _taken(spec, row)
        return claimed

    async def claim_one(
        self, session: AsyncSession, spec: ClaimSpec, *, reserved: bool | None = None
    ) -> Row[Any] | None:
        """The best fitting queued single-node task, now assigned to the worker (`TASK_COLUMNS`), in the
        open transaction `session`; None when none fits. `reserved`: whether a reservation is live on the
        worker (`claim.reservation_live_statement`; read here when not given).

        A worker without one walks the priority levels from the top (`claim.choice_statement`: one
        indexed read per level, the first queued task of the level that fits) and stops once a level's
        ceiling (its priority plus the most aging can add) is below the best found: one read when the
        top level's first task has all the boost aging gives, one per level within ``aging_max_boost``
        below otherwise, whatever the queue's length. Then one UPDATE takes it (`claim.take_statement`).
        The walk's reads lock nothing; on PostgreSQL the chosen task is then locked
        (`claim.lock_statement`, ``SKIP LOCKED``) and, when another claim holds it, the walk runs again
        leaving it out: concurrent claims pass each other's tasks by and hold only the tasks they take.
        A worker in a live reservation uses the single statement that orders every fitting task
        (`claim.claim_statement`).
        """
        if reserved is None:
            reserved = bool((await session.execute(*reservation_live_statement(spec))).scalar())
        if reserved:
            return (await session.execute(*claim_statement(self.dialect, spec))).first()
        choose, params = claim_choice(self.dialect, spec)
        ceiling = spec.aging_max_boost if spec.aging_rate > 0 else 0.0
        postgres = self.dialect == "postgresql"
        skipped: list[str] = []
        while True:
            walk_params = {**params, "claim_skipped": skipped} if postgres else params
            best = await self._walk(session, ceiling, choose, walk_params)
            if best is None:
                return None
            # PostgreSQL: the walk locked nothing; lock the chosen task now, passing it by (and walking
            # again without it) when another claim holds it.
            if (
                postgres
                and (await session.execute(lock_statement(), {"claim_task_id": best.id})).first() is None
            ):
                skipped.append(best.id)
                continue
            taken = await session.execute(take_statement(), {**params, "claim_task_id": best.id})
            return taken.first()

    @staticmethod
    async def _walk(
        session: AsyncSession, ceiling: float, choose: Select[Any], params: dict[str, Any]
    ) -> Row[Any] | None:
        """`claim_one`'s walk down the priority levels (`claim.choice_statement`): the best fitting task's
        row (id, queued_at, effective), or None when none fits."""
        best: Row[Any] | None = None
        level: int | None = _TOP_LEVEL
        while level is not None:
            row = (await session.execute(choose, {**params, "claim_level": level})).first()
            if row is None:
                break
            if best is None or _claim_order(row) < _claim_order(best):
                best = row
            level = row.next_level
            if level is not None and level + ceiling < best.effective:
                level = None
        return best

    async def _claim_gangs(
        self,
        session: AsyncSession,
        spec: ClaimSpec,
        claimed: list[Claimed],
        max_tasks: int,
        master_port: int | None,
    ) -> tuple[ClaimSpec, bool]:
        """Places the queued gangs this worker can start as rank 0 (best first); says whether the head
        of the queue is a gang that holds this worker."""
        fleet = {node.worker_id: node for node in await gangs.nodes(session, spec.now)}
        me = fleet.get(spec.worker_id)
        if me is None:  # not active: it takes nothing
            return spec, True
        aging = {"rate": spec.aging_rate, "max_boost": spec.aging_max_boost}
        queued = await gangs.queued_in_order(session, self.dialect, now=spec.now, gangs_only=True, **aging)
        for task in queued:
            if len(claimed) >= max_tasks or spec.free.slots < 1:
                break
            # A worker still stopping a part of this task's earlier attempt cannot take one of this.
            busy = await gangs.still_running(session, task.id)
            if spec.worker_id in busy:
                continue
            if task.reservation_id is None:
                # What the worker says it has free, within what the books leave it (reservations held there).
                claimer = gang.Node(spec.worker_id, total=me.total, free=_lesser(spec.free, me.free))
                others = [node for node in fleet.values() if node.worker_id not in busy]
            else:
                # A gang in a reservation runs only on its workers, within what it holds on each.
                inside = {
                    node.worker_id: node
                    for node in await gangs.reservation_nodes(session, task, spec.now) or []
                }
                mine = inside.get(spec.worker_id)
                if mine is None:
                    continue
                claimer = gang.Node(spec.worker_id, total=me.total, free=_lesser(spec.free, mine.free))
                others = [node for node in inside.values() if node.worker_id not in busy]
            workers = gang.place(gangs.demand_of(task), claimer, others)
            if workers is None:
                continue
            attempt = task.retry_count + 1
            row = await gangs.place(
                session,
                task,
                workers,
                master_addr=await gangs.worker_address(session, spec.worker_id),
                master_port=master_port or gang.default_port(task.id, attempt),
                message=f"Preparing on {len(workers)} workers (rank 0: {spec.worker_name})",
                now=spec.now,
            )
            if row is None:
                continue
            claimed.append(Claimed(row, Rank(0, row.node_count)))
            spec = _taken(spec, row)
            for worker_id in workers[1:]:
                node = fleet[worker_id]
                fleet[worker_id] = gang.Node(worker_id, node.total, _less(node.free, row))
        head = await gangs.queued_in_order(session, self.dialect, now=spec.now, gangs_only=False, **aging)
        if not head or head[0].node_count == 1 or head[0].reservation_id is not None:
            return spec, False
        fleet[spec.worker_id] = gang.Node(spec.worker_id, me.total, spec.free)
        return spec, spec.worker_id in gang.hold_for(gangs.demand_of(head[0]), list(fleet.values()))

    async def update_task(
        self,
        task_id: str,
        *,
        worker_id: str,
        from_status: str | Sequence[str],
        values: dict[str, Any],
        progress: float | None = None,
        require_cancel: bool = False,
        previous: str | None = None,
        ending: EndingHook | None = None,
    ) -> TaskRow | None:
        """One conditional transition of a task held by `worker_id`; None when its state moved on.

        `progress` raises the stored progress to at least that value (never lowers it). With `previous`,
        the change is a status change and records `task_update` (and `task_complete` at the end);
        without, it records `task_progress`. `ending` runs in the transaction when the change ends the
        task, before its events.
        """
        states = (from_status,) if isinstance(from_status, str) else tuple(from_status)
        conditions = [TaskRow.id == task_id, TaskRow.worker_id == worker_id, TaskRow.status.in_(states)]
        if require_cancel:
            conditions.append(TaskRow.cancel_requested.is_(True))
        changes = erase_secrets(None, values)  # an ending write never keeps secret values
        if progress is not None and "progress" not in changes:
            changes["progress"] = greatest(self.dialect, TaskRow.progress, progress)
        async with self.db.session() as session:
            result = await session.execute(
                update(TaskRow)
                .where(*conditions)
                .values(**changes)
                .returning(TaskRow)
                .execution_options(**_RETURNING)
            )
            row = result.scalars().first()
            if row is not None:
                await _recorded(session, row, previous, ending)
            return row

    async def report_unread(
        self,
        task_id: str,
        *,
        worker_id: str,
        user_id: str,
        attempt: int | None,
        from_status: str | Sequence[str],
        values: dict[str, Any],
        progress: float | None = None,
        start: datetime | None = None,
        previous: str | None = None,
        ending: EndingHook | None = None,
    ) -> Reported | None:
        """A worker's report recorded without reading the task or the worker first: one conditional UPDATE
        that holds only when the task is in `from_status`, assigned to `worker_id` (a worker `user_id`
        registered), single-node, on attempt `attempt` (when given) and, when `values` end it, holds no
        secret values. None when it does not hold (nothing is written; the caller reads and answers why).

        `values` as for `update_task`; `start` sets ``started_at`` unless the task has one. With
        `previous` (the one state `from_status` names) it records `task_update`, else `task_progress`;
        `ending` runs in the transaction when the task ends, before its events.
        """
        states = (from_status,) if isinstance(from_status, str) else tuple(from_status)
        changes = erase_secrets(None, values)
        if progress is not None and "progress" in changes:
            progress = None
        ending_write = changes.get("status") in TERMINAL
        statement = _unread_statement(
            self.dialect,
            tuple(sorted(changes)),
            states,
            attempt=attempt is not None,
            progress=progress is not None,
            start=start is not None,
            secret_free=ending_write,
        )
        params: dict[str, Any] = {f"set_{name}": value for name, value in changes.items()}
        params.update(report_task_id=task_id, report_worker_id=worker_id, report_user_id=user_id)
        if attempt is not None:
            params["report_retry_count"] = attempt - 1
        if progress is not None:
            params["report_progress"] = progress
        if start is not None:
            params["report_start"] = start
        async with self.db.session() as session:
            found = (await session.execute(statement, params)).first()
            if found is None:
                return None
            row, lease = task_from(found), found[len(TASK_COLUMNS)]
            await _recorded(session, row, previous, ending)
            return Reported(row, lease)

    async def start_and_move(
        self,
        task_id: str,
        *,
        worker_id: str,
        started: dict[str, Any],
        values: dict[str, Any],
        progress: float | None = None,
        require_cancel: bool = False,
        ending: EndingHook | None = None,
    ) -> TaskRow | None:
        """A `preparing` task held by `worker_id` becomes `running` (`started`: its column values) and then
        moves on (`values`: to its end, or `collecting`), in one transaction, each change recording its
        events and audit entry as `update_task` does (so readers see ``running`` and then the end, as after
        two reports; `ending` as for `update_task`); None, changing nothing, when the task is no longer preparing on this worker (or,
        with `require_cancel`, nobody asked to cancel it).
        """
        conditions = [TaskRow.id == task_id, TaskRow.worker_id == worker_id]
        if require_cancel:
            conditions.append(TaskRow.cancel_requested.is_(True))
        changes = erase_secrets(None, values)
        if progress is not None and "progress" not in changes:
            changes["progress"] = greatest(self.dialect, TaskRow.progress, progress)
        async with self.db.session() as session:
            result = await session.execute(
                update(TaskRow)
                .where(*conditions, TaskRow.status == TaskStatus.preparing)
                .values(**started)
                .returning(TaskRow)
                .execution_options(**_RETURNING)
            )
            row = result.scalars().first()
            if row is None:
                return None
            await events.task_changed(session, row, previous=TaskStatus.preparing)
            # The first change holds the row (SQLite: the write lock; PostgreSQL: the row lock) until the
            # commit, so the second one's condition holds.
            result = await session.execute(
                update(TaskRow)
                .where(*conditions, TaskRow.status == TaskStatus.running)
                .values(**changes)
                .returning(TaskRow)
                .execution_options(**_RETURNING)
            )
            ended = result.scalars().one()
            await _recorded(session, ended, TaskStatus.running, ending)
            return ended

    async def end_batch(
        self,
        worker_id: str,
        task_ids: Sequence[str],
        decide: Callable[[TaskRow], BatchEnd | None],
        *,
        ending: EndingHook | None = None,
    ) -> dict[str, TaskRow]:
        """Several tasks held by `worker_id` ended in one transaction (the end reports one claim carries):
        the task ids it recorded → each task as it is now. See `_end_in`."""
        if not task_ids:
            return {}
        async with self.db.session() as session:
            batch = events.ChangeBatch()
            ended = await self._end_in(session, batch, worker_id, task_ids, decide, ending)
            await batch.write(session)
        return ended

    async def end_and_claim(
        self,
        spec: ClaimSpec,
        task_ids: Sequence[str],
        decide: Callable[[TaskRow], BatchEnd | None],
        *,
        ending: EndingHook | None = None,
        max_tasks: int = 1,
        master_port: int | None = None,
    ) -> tuple[dict[str, TaskRow], list[Claimed]]:
        """The ends a claim carries (`end_batch`) and that claim (`claim`), in one transaction: the task
        ids ended → each task as it is now, and what the worker gets. One commit, one write turn on SQLite,
        one events INSERT and one audit append for both. The claim's locks come first (see `claim`), so
        the ends are written under them: a worker's row, then its tasks, the order every claim takes."""
        async with self.db.session() as session:
            batch = events.ChangeBatch()
            waiting = await self._lock_for_claim(session, spec.worker_id)
            ended = await self._end_in(session, batch, spec.worker_id, task_ids, decide, ending)
            claimed = await self._claim_in(session, batch, spec, waiting, max_tasks, master_port)
            await batch.write(session)
        return ended, claimed

    async def _end_in(
        self,
        session: AsyncSession,
        batch: events.ChangeBatch,
        worker_id: str,
        task_ids: Sequence[str],
        decide: Callable[[TaskRow], BatchEnd | None],
        ending: EndingHook | None,
    ) -> dict[str, TaskRow]:
        """The ends of `task_ids` in the open transaction, their changes added to `batch`.

        The tasks are read in one statement; `decide` gets each (single-node, on this worker) and answers
        what its report writes (`BatchEnd`), or None to leave it to the caller (nothing written for it).
        Each change is one conditional UPDATE from the state it was read in, so a task that moved meanwhile
        is left out too; a folded start (`BatchEnd.started`) goes from ``preparing`` to the end in that one
        UPDATE, and its ``running`` change is added to `batch` from the row as read with the start's values
        (what a first UPDATE to ``running`` would have returned). `ending` runs once, for all the ended
        tasks, before the events; the changes are added in the order of `task_ids`.
        """
        ended: dict[str, TaskRow] = {}
        if not task_ids:
            return ended
        found = await session.execute(
            select(*TASK_COLUMNS).where(
                TASKS.c.id.in_(task_ids), TASKS.c.worker_id == worker_id, TASKS.c.node_count == 1
            )
        )
        rows = {row.id: row for row in map(task_from, found)}
        for task_id in task_ids:
            row = rows.get(task_id)
            plan = decide(row) if row is not None else None
            if row is None or plan is None:
                continue
            read = row.status
            started = task_with(row, plan.started) if plan.started is not None else None
            values = erase_secrets(None, plan.values)
            if plan.started is not None:
                values = {**plan.started, **values}
            # On the table (`runplane.store.rows`): an ORM UPDATE ... RETURNING costs ~4x the CPU.
            result = await session.execute(
                update(TASKS)
                .where(TASKS.c.id == task_id, TASKS.c.worker_id == worker_id, TASKS.c.status == read)
                .values(**values)
                .returning(*TASK_COLUMNS)
            )
            returned = result.first()
            if returned is None:  # it moved since it was read: nothing written
                continue
            changed = task_from(returned)
            if started is not None:
                batch.add(started, previous=read)
            batch.add(changed, previous=started.status if started is not None else read)
            ended[task_id] = changed
        if ending is not None and ended:
            await ending([row for row in ended.values() if row.status in TERMINAL], session)
        return ended

    # --- recovery -----------------------------------------------------------------------------------

    async def reaper_probe(self, now: datetime) -> ReaperProbe:
        """One cheap read answering "has the reaper anything to do now, and if not, when next?".

        Due when any of the reaper's passes would find work: a live worker whose lease has ended, a
        draining worker, an active task (or a gang's running part) whose worker is offline or unknown, a
        queued task (its waiting reason), an active reservation past its end. Otherwise `next_at` is the
        earliest moment one of them can come due by time alone: the earliest lease end of a live worker
        or end of an active reservation (None: neither exists). Core, one statement on one connection.
        """
        live = (WorkerRow.status.in_(("active", "draining")),)
        alive = select(WorkerRow.id).where(WorkerRow.id == TaskRow.worker_id, WorkerRow.status != "offline")
        part_alive = select(WorkerRow.id).where(
            WorkerRow.id == TaskPartRow.worker_id, WorkerRow.status != "offline"
        )
        due = or_(
            select(WorkerRow.id).where(*live, WorkerRow.lease_expires_at < now).exists(),
            select(WorkerRow.id).where(WorkerRow.status == "draining").exists(),
            select(TaskRow.id).where(TaskRow.status.in_(ACTIVE), ~alive.exists()).exists(),
            select(TaskPartRow.rank)
            .join(TaskRow, TaskRow.id == TaskPartRow.task_id)
            .where(
                TaskRow.status.in_(ACTIVE),
                TaskRow.node_count > 1,
                TaskPartRow.attempt == TaskRow.retry_count + 1,
                TaskPartRow.status.not_in(gang.PART_ENDED),
                ~part_alive.exists(),
            )
            .exists(),
            select(TaskRow.id).where(TaskRow.status == TaskStatus.queued).exists(),
            select(ReservationRow.id)
            .where(ReservationRow.status == "active", ReservationRow.expires_at <= now)
            .exists(),
        )
        statement = select(
            due,
            select(func.min(WorkerRow.lease_expires_at)).where(*live).scalar_subquery(),
            select(func.min(ReservationRow.expires_at))
            .where(ReservationRow.status == "active")
            .scalar_subquery(),
        )
        async with self.db.engine.connect() as connection:
            is_due, lease_end, reservation_end = (await connection.execute(statement)).one()
        ends = [moment for moment in (lease_end, reservation_end) if moment is not None]
        return ReaperProbe(due=bool(is_due), next_at=min(ends) if ends else None)

    async def orphans(self) -> Sequence[Orphan]:
        """Active tasks whose worker is offline or unknown."""
        live = aliased(WorkerRow, name="live")
        alive = select(live.id).where(live.id == TaskRow.worker_id, live.status != "offline")
        async with self.db.reader() as session:
            result = await session.execute(
                select(TaskRow, WorkerRow.name)
                .outerjoin(WorkerRow, WorkerRow.id == TaskRow.worker_id)
                # A multi-node task's parts are recovered by runplane.gangs.
                .where(TaskRow.status.in_(ACTIVE), TaskRow.node_count == 1, ~alive.exists())
                .execution_options(populate_existing=True)
            )
            return [Orphan(task, name or str(task.worker_id)) for task, name in result.all()]

    async def recover(self, seen: TaskRow, *, values: dict[str, Any], now: datetime) -> TaskRow | None:
        """Takes a task back from its worker as `seen`, setting `values` (cancelled, requeued or failed:
        the caller decides, `runplane.workers.WorkerManager`).

        Conditional on the task still being exactly as `seen` shows it (same status, worker and
        updated_at), so a task is recovered once however many reapers and heartbeats find it, and not
        at all when its worker reported on it in the meantime.
        """
        values = erase_secrets(None, {"updated_at": now, **values})
        async with self.db.session() as session:
            result = await session.execute(
                update(TaskRow)
                .where(
                    TaskRow.id == seen.id,
                    TaskRow.status == seen.status,
                    TaskRow.worker_id == seen.worker_id,
                    TaskRow.updated_at == seen.updated_at,
                )
                .values(**values)
                .returning(TaskRow)
                .execution_options(**_RETURNING)
            )
            row = result.scalars().first()
            if row is not None:
                # The event names the worker the task left, also when it went back to the queue.
                await events.task_changed(session, row, previous=seen.status, worker_id=seen.worker_id)
            return row

    # --- waiting reasons ----------------------------------------------------------------------------

    async def queued_demands(self) -> dict[Demand, set[str | None]]:
        """What queued tasks ask for (each distinct demand once) and the messages they show now."""
        async with self.db.reader() as session:
            result = await session.execute(
                select(
                    TaskRow.cpu,
                    TaskRow.memory_gb,
                    TaskRow.gpu,
                    TaskRow.gpu_type,
                    TaskRow.node_count,
                    TaskRow.message,
                )
                .where(TaskRow.status == TaskStatus.queued, TaskRow.reservation_id.is_(None))
                .distinct()
            )
            found: dict[Demand, set[str | None]] = {}
            for cpu, memory, gpu, gpu_type, nodes, message in result.all():
                demand = Demand(cpu=cpu, memory_gb=memory, gpu=gpu, gpu_type=gpu_type, node_count=nodes)
                found.setdefault(demand, set()).add(message)
            return found

    async def set_waiting(self, demand: Demand, reason: str | None, *, now: datetime) -> int:
        """Sets `reason` as the message of queued tasks with this demand (or clears an old reason), with
        each changed task's `task_progress` event: one UPDATE and one events INSERT however many tasks it
        changes (on the table, `runplane.store.rows`: the reaper explains every task queued since its last
        pass, so on a busy queue this is paid per submitted task). Returns how many it changed."""
        tasks = TASKS.c
        conditions = [
            tasks.status == TaskStatus.queued,
            tasks.reservation_id.is_(None),  # runplane.reservations explains those
            tasks.cpu == demand.cpu,
            tasks.memory_gb == demand.memory_gb,
            tasks.gpu == demand.gpu,
            tasks.gpu_type.is_(None) if demand.gpu_type is None else tasks.gpu_type == demand.gpu_type,
            tasks.node_count == demand.node_count,
        ]
        if reason is None:
            conditions.append(tasks.message.like(f"{WAITING_PREFIX}%"))
            message = "Queued"
        else:
            conditions.append(tasks.message.is_distinct_from(reason))
            message = reason
        async with self.db.session() as session:
            result = await session.execute(
                update(TASKS)
                .where(*conditions)
                .values(message=message, updated_at=now)
                .returning(tasks.id, tasks.user_id, tasks.worker_id, tasks.progress, tasks.message)
            )
            changed = result.all()
            await events.tasks_progressed(session, changed)
            return len(changed)


async def _recorded(
    session: AsyncSession, row: TaskRow, previous: str | None, ending: EndingHook | None
) -> None:
    """What a worker's recorded report adds in its transaction: the task's run record when it ended (first,
    so that on PostgreSQL the audit chain's head is locked only from the events to the commit), then the
    events: `task_update` (and `task_complete`) for a status change from `previous`, else `task_progress`."""
    if ending is not None and row.status in TERMINAL:
        await ending([row], session)
    if previous is not None:
        await events.task_changed(session, row, previous=previous)
    else:
        await events.task_progress(session, row)
