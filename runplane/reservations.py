"""Reservation rules: creation and binding to workers, visibility, cancel, expiry, and task references.

A reservation (Slurm's `scontrol create reservation`, per node rather than per cluster) holds `gpu_count`
GPUs of `gpu_type`, `cpu` cores, `memory_gb` GiB and one task slot on each of `node_count` active workers
for its owner, from `starts_at` until `expires_at`. It is bound at creation to workers whose registered
capacity can hold that on top of what other reservations overlapping its window hold there; a claim by
such a worker (`runplane.store.claim.claim_statement`) then keeps that capacity for tasks that name it.
Tasks already running on a worker when a reservation starts are not stopped (no preemption).

Tenancy: a user sees and cancels only its own reservations (another's is 404); an admin sees all.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from runplane.errors import Conflict, Forbidden, NotFound, Unprocessable
from runplane.gang import Node, one_part
from runplane.scheduler import WAITING_PREFIX, Capacity, capacity_of, fits, gpu_type_matches
from runplane.store.gangs import GangStore, demand_of
from runplane.store.reservations import Booked, ReservationStore, StoredReservation
from runplane.store.tables import ReservationRow, TaskRow, WorkerRow, utcnow

if TYPE_CHECKING:
    from generated.models import ReservationCreate, TaskCreate
    from runplane.security import Principal
    from runplane.store.database import Database

DEFAULT_MINUTES = 30
MAX_LENGTH = timedelta(days=30)
MAX_LEAD = timedelta(days=365)


@dataclass(frozen=True)
class PerNode:
    """What a reservation holds on each of its workers."""

    cpu: int
    memory_gb: float
    gpus: int
    gpu_type: str | None


def _free_for_reservation(worker: WorkerRow, booked: Booked, gpu_type: str | None) -> PerNode | None:
    """What a worker can still hold for a new reservation (None when it has no slot left)."""
    total = capacity_of(worker)
    if total.slots - booked.slots < 1:
        return None
    matching = sum(1 for name in total.gpu_names if gpu_type_matches(gpu_type, [name]))
    return PerNode(
        cpu=total.cpu - booked.cpu,
        memory_gb=total.memory_gb - booked.memory_gb,
        gpus=matching - booked.gpus,
        gpu_type=gpu_type,
    )


def choose_workers(
    want: PerNode, node_count: int, workers: Sequence[WorkerRow], booked: dict[str, Booked]
) -> list[str]:
    """The `node_count` active workers to bind, tightest GPU fit first, then by name and id.

    Raises Conflict (409) naming what is missing when fewer than `node_count` workers can hold `want`.
    """
    able: list[tuple[int, str, str]] = []
    missing: dict[str, int] = {"slot": 0, "cpu": 0, "memory_gb": 0, "gpus": 0}
    for worker in workers:
        free = _free_for_reservation(worker, booked.get(worker.id, Booked()), want.gpu_type)
        if free is None:
            missing["slot"] += 1
            continue
        short = [
            name
            for name, ok in (
                ("cpu", free.cpu >= want.cpu),
                ("memory_gb", free.memory_gb >= want.memory_gb),
                ("gpus", free.gpus >= want.gpus),
            )
            if not ok
        ]
        for name in short:
            missing[name] += 1
        if not short:
            able.append((free.gpus - want.gpus, worker.name, worker.id))
    if len(able) >= node_count:
        return [worker_id for _, _, worker_id in sorted(able)[:node_count]]
    if not workers:
        raise Conflict(
            "No active worker is registered to hold the reservation",
            details={"node_count": node_count, "workers_able": 0},
        )
    kind = f" {want.gpu_type}" if want.gpu_type else ""
    labels = {
        "slot": "a free task slot",
        "cpu": f"{want.cpu} unreserved CPU core(s)",
        "memory_gb": f"{want.memory_gb:g} GB of unreserved memory",
        "gpus": f"{want.gpus} unreserved{kind} GPU(s)",
    }
    lacking = [labels[name] for name, count in missing.items() if count]
    reason = "; workers lack " + ", ".join(lacking) if lacking else ""
    raise Conflict(
        f"Only {len(able)} of the {node_count} worker(s) needed can hold {want.gpus}{kind} GPU(s), "
        f"{want.cpu} CPU core(s) and {want.memory_gb:g} GB each{reason}",
        details={
            "node_count": node_count,
            "workers_able": len(able),
            "workers_lacking": {name: count for name, count in missing.items() if count},
        },
    )


async def reap(db: Database, now: datetime) -> dict[str, Capacity]:
    """The reaper's reservation pass, for `WorkerManager.reap`: expires reservations, explains why tasks
    in reservations wait, and answers what each worker's capacity is less what live reservations hold
    there (worker id → what is held, per dimension; see `scheduler.unreserved`)."""
    manager = ReservationManager(ReservationStore(db))
    await manager.reap(now)
    held = await manager.store.held_now(now)
    return {
        worker_id: Capacity(
            cpu=hold.cpu, memory_gb=hold.memory_gb, gpu_names=(), gpus=hold.gpus, slots=hold.slots
        )
        for worker_id, hold in held.items()
    }


@dataclass(frozen=True)
class ReservationLimits:
    """What a user (not an admin) may reserve, from the settings: the longest reservation in minutes
    (``RUNPLANE_RESERVATION_MAX_MINUTES``) and the most workers held at once (summed ``node_count`` of
    the user's active reservations whose windows overlap, ``RUNPLANE_RESERVATION_MAX_NODES``)."""

    max_minutes: int
    max_nodes: int


class ReservationManager:
    def __init__(self, store: ReservationStore, limits: ReservationLimits | None = None) -> None:
        self.store = store
        # None: unbounded (the reaper's own manager, which creates nothing).
        self.limits = limits

    async def create(self, principal: Principal, request: ReservationCreate) -> StoredReservation:
        """Validates the window, binds the reservation to workers and stores it (422 / 409 otherwise)."""
        now = utcnow()
        starts_at = max(request.starts_at.root, now) if request.starts_at else now
        if request.expires_at is not None and request.expires_minutes is not None:
            raise Unprocessable(
                "Give one of 'expires_at' and 'expires_minutes'", details={"field": "expires_minutes"}
            )
        if starts_at - now > MAX_LEAD:
            raise Unprocessable("A reservation starts within a year", details={"field": "starts_at"})
        if request.expires_at is not None:
            expires_at = request.expires_at.root
        else:
            expires_at = starts_at + timedelta(minutes=request.expires_minutes or DEFAULT_MINUTES)
        if expires_at <= now:
            raise Unprocessable(
                f"The reservation would end at {expires_at.isoformat()}, which is in the past",
                details={"field": "expires_at"},
            )
        if expires_at <= starts_at:
            raise Unprocessable("'expires_at' must be after the start", details={"field": "expires_at"})
        if expires_at - starts_at > MAX_LENGTH:
            raise Unprocessable("A reservation lasts at most 30 days", details={"field": "expires_at"})
        limits = None if principal.is_admin else self.limits  # admins are not bounded
        if limits is not None and expires_at - starts_at > timedelta(minutes=limits.max_minutes):
            asked = round((expires_at - starts_at).total_seconds() / 60)
            raise Unprocessable(
                f"A user's reservation lasts at most {limits.max_minutes} minutes "
                f"(RUNPLANE_RESERVATION_MAX_MINUTES); this one would last {asked}",
                details={
                    "field": "expires_minutes" if request.expires_minutes is not None else "expires_at",
                    "limit": "RUNPLANE_RESERVATION_MAX_MINUTES",
                    "max_minutes": limits.max_minutes,
                },
            )
        if request.gpu_type is not None and request.gpu_count == 0:
            raise Unprocessable("'gpu_type' needs 'gpu_count' of 1 or more", details={"field": "gpu_type"})
        want = PerNode(
            cpu=request.cpu, memory_gb=request.memory_gb, gpus=request.gpu_count, gpu_type=request.gpu_type
        )
        row = ReservationRow(
            id=uuid.uuid4().hex,
            user_id=principal.user_id,
            status="active",
            gpu_count=want.gpus,
            gpu_type=want.gpu_type,
            node_count=request.node_count,
            cpu=want.cpu,
            memory_gb=want.memory_gb,
            starts_at=starts_at,
            expires_at=expires_at,
            created_at=now,
            ended_at=None,
        )

        def within_node_limit(held: int) -> None:
            if limits is not None and held + request.node_count > limits.max_nodes:
                raise Conflict(
                    f"A user may hold at most {limits.max_nodes} worker(s) in reservations at once "
                    f"(RUNPLANE_RESERVATION_MAX_NODES); you already hold {held} in this window and this "
                    f"one asks for {request.node_count}",
                    details={
                        "limit": "RUNPLANE_RESERVATION_MAX_NODES",
                        "max_nodes": limits.max_nodes,
                        "held_nodes": held,
                        "node_count": request.node_count,
                    },
                )

        await self.store.insert_bound(
            row,
            lambda workers, booked: choose_workers(want, request.node_count, workers, booked),
            owner_check=within_node_limit,
        )
        return await self.visible(principal, row.id)

    async def visible(self, principal: Principal, reservation_id: str) -> StoredReservation:
        found = await self.store.get(reservation_id)
        if found is None or (not principal.is_admin and found.row.user_id != principal.user_id):
            raise NotFound("Reservation not found", details={"reservation_id": reservation_id})
        return found

    async def page(
        self, principal: Principal, *, user_id: str | None, status: str | None, limit: int, offset: int
    ) -> tuple[list[StoredReservation], int]:
        if not principal.is_admin:
            if user_id is not None and user_id != principal.user_id:
                raise Forbidden(
                    "Only admins may list other users' reservations", details={"field": "user_id"}
                )
            user_id = principal.user_id
        return await self.store.page(user_id=user_id, status=status, limit=limit, offset=offset)

    async def cancel(self, principal: Principal, reservation_id: str) -> StoredReservation:
        """Active (or claimed) → cancelled; 409 when it has already ended."""
        found = await self.visible(principal, reservation_id)
        ended = await self.store.end(
            status="cancelled",
            now=utcnow(),
            message="Cancelled",
            reservation_id=found.row.id,
            cancelled_by=principal.user_id,
        )
        if not ended:
            current = await self.visible(principal, reservation_id)
            raise Conflict(
                f"Reservation already {current.status}",
                details={"reservation_id": reservation_id, "status": current.status},
            )
        return await self.visible(principal, reservation_id)

    async def check_task(self, principal: Principal, request: TaskCreate) -> None:
        """422 unless the task's `reservation_id` is the caller's own live reservation and fits in it:
        each part (a single-node task is one) within what the reservation holds per node, and no more
        parts than it has nodes (a gang's parts each take one of its workers)."""
        if request.reservation_id is None:
            return
        reservation_id = request.reservation_id.root
        found = await self.store.get(reservation_id)
        field = {"field": "reservation_id"}
        if found is None or found.row.user_id != principal.user_id:
            raise Unprocessable("Unknown reservation", details=field)
        row = found.row
        if row.status != "active" or row.expires_at <= utcnow():
            ended = "expired" if row.status == "active" else row.status
            raise Unprocessable(f"Reservation {reservation_id} is {ended}", details=field)
        if request.node_count > row.node_count:
            # Each part of a gang takes one of the reservation's workers: it could never start.
            raise Unprocessable(
                f"The task needs {request.node_count} nodes; reservation {reservation_id} holds "
                f"{row.node_count}",
                details={"field": "node_count", "reservation_id": reservation_id},
            )
        too_big = [
            name
            for name, ok in (
                ("cpu", request.cpu <= row.cpu),
                ("memory_gb", request.memory_gb <= row.memory_gb),
                ("gpu", request.gpu <= row.gpu_count),
                ("gpu_type", request.gpu_type is None or _same_kind(request.gpu_type, row.gpu_type)),
            )
            if not ok
        ]
        if too_big:
            raise Unprocessable(
                f"The task needs more than reservation {reservation_id} holds per node ({too_big[0]})",
                details={"field": too_big[0], "reservation_id": reservation_id},
            )

    async def reap(self, now: datetime) -> list[str]:
        """Expires reservations whose end has passed and explains why their queued tasks wait.

        Called once per reaper pass (`runplane.workers.WorkerManager.reap`); returns the expired ids.
        """
        expired = await self.store.end(status="expired", now=now, message="Cancelled")
        gangs = GangStore(self.store.db)
        for queued in await self.store.queued_in_reservations():
            reason = waiting_reason_in_reservation(queued.reservation, queued.status, now)
            if queued.task.node_count > 1 and queued.reservation is not None:
                fleet = await gangs.reservation_fleet(queued.task, now)
                if fleet is not None:  # live: started, and the task's user's
                    reason = gang_waiting_in_reservation(queued.reservation, queued.task, fleet)
            message = reason if reason is not None else "Queued"
            if queued.task.message != message and (
                reason is not None or (queued.task.message or "").startswith(WAITING_PREFIX)
            ):  # only then write: most passes change nothing and take no write lock
                await self.store.set_message(queued.task, message, now=now)
        return expired


def gang_waiting_in_reservation(
    reservation: ReservationRow, task: TaskRow, fleet: Sequence[Node]
) -> str | None:
    """Why a queued multi-node task waits inside its live reservation, from the reservation's active
    workers with what each has free for it (`runplane.store.gangs.reservation_nodes`); None when enough
    of them can take a part now (the next claim by one of them places it)."""
    part = one_part(demand_of(task))
    wanted = task.node_count
    able = sum(1 for node in fleet if fits(part, node.free))
    if able >= wanted:
        return None
    if len(fleet) < wanted:
        return (
            f"{WAITING_PREFIX} needs {wanted} workers of reservation {reservation.id}; {len(fleet)} of its "
            f"{reservation.node_count} are active"
        )
    return (
        f"{WAITING_PREFIX} for {wanted} workers of reservation {reservation.id} with a part's resources "
        f"free at once; {able} can take a part now, its other tasks use the rest"
    )


def _same_kind(task_type: str, reserved_type: str | None) -> bool:
    """A task's gpu_type fits a reservation of no type, or one its type names (either way round)."""
    if reserved_type is None:
        return True
    return task_type.lower() in reserved_type.lower() or reserved_type.lower() in task_type.lower()


def waiting_reason_in_reservation(
    reservation: ReservationRow | None, status: str | None, now: datetime
) -> str | None:
    """Why a queued task that names a reservation waits: for its start, or for its capacity that the
    reservation's other tasks use (`status` is the derived one: `claimed`). None: it waits for no reason
    of the reservation's (the next claim by a worker of it takes it)."""
    if reservation is None or reservation.status != "active":
        return None
    if now < reservation.starts_at:
        start = reservation.starts_at.isoformat()
        return f"{WAITING_PREFIX} for reservation {reservation.id} to start at {start}"
    if status == "claimed":
        return f"{WAITING_PREFIX} for capacity of reservation {reservation.id}, in use by its other tasks"
    return None
