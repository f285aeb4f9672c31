"""Scheduling rules: which queued task fits a worker, why a task waits, aging, and the reaper that recovers
lost work. The rules live here; their SQL lives in the store (`runplane.store.claim`).

A claim takes each task in SQL built by `runplane.store.claim`, per dialect, in the claim's transaction
(`runplane.store.workers.WorkerStore.claim_one`):

- A worker with no reservation live on it (almost always) walks the queue's priority levels from the top
  along the ``(status, priority, queued_at, id)`` index: one read gives the first fitting task of the
  highest level with one and the next lower level with one (`claim.choice_statement`); a lower level
  is read only while it could still win by aging (its priority plus ``aging_max_boost`` reaches the best
  effective priority found). Within a level the task queued first is the best, so each read stops at
  one row and a claim costs the same with ten or ten thousand tasks queued. Then one UPDATE takes the
  chosen task (``... WHERE id = :chosen AND status = 'queued' RETURNING *``).
- A worker in a live reservation uses the single statement that orders every fitting task
  (`claim.claim_statement`): PostgreSQL ``WITH next AS (SELECT id ... ORDER BY effective priority DESC,
  queued_at, id LIMIT 1 FOR UPDATE OF candidate SKIP LOCKED) UPDATE tasks SET status='preparing', ...
  WHERE tasks.id = (SELECT id FROM next) AND tasks.status = 'queued' RETURNING tasks.*``; SQLite the
  same UPDATE with the SELECT as its subquery.

On PostgreSQL a claim never waits for another claim's tasks and holds only the tasks it takes: the
walk's reads lock nothing; the chosen task is then locked with ``FOR UPDATE SKIP LOCKED``
(`claim.lock_statement`) and, when another claim holds it, the walk runs again leaving it out, as the
single statement's ``SKIP LOCKED`` passes it by. So N workers claim N different tasks without waiting.
SQLite runs one writer at a time and the claim's first statement takes the write lock before it reads,
so what it reads and what it updates are the same state. (On PostgreSQL the walk's reads are separate
statements: a task's priority changed and committed in between can be seen by one read and not another;
the single statement sees one snapshot.)

Effective priority is ``priority + min(aging_rate * minutes waited since queued_at, aging_max_boost)``,
computed in SQL (and by `runplane.tasks.AgingPolicy` for display as ``priority_aged``). A task fits a
worker when its cpu, memory_gb and gpu fit what the worker has free, its ``gpu_type`` is null or a
case-insensitive substring of one of the worker's GPU names ("H100" matches "NVIDIA H100 80GB HBM3"),
it needs one node (a multi-node task is placed whole by `runplane.gang`, in the same claim's
transaction: `runplane.store.workers.WorkerStore.claim`), its retry backoff (``not_before``) has
passed and the worker has a free slot. Only an
``active`` worker gets work; a draining or offline one gets no assignment. Live reservations
(`runplane.reservations`) hold capacity on the workers they are bound to: a task that names none fits
the free capacity less what they hold there; a task that names its owner's live reservation fits only on
that reservation's workers, within what the reservation still holds unused (`usable`).

The `Reaper` runs in every API process, so everything it changes is a conditional UPDATE that is safe
when several reapers (and claims and reports) race: see `runplane.workers.WorkerManager.reap`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from runplane.periodic import Periodic
from runplane.store import notify
from runplane.store.tables import WorkerRow

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
    run here at all. The claim statement applies the same rule in SQL (`runplane.store.claim.claim_statement`).
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
        # A gang (runplane.gang): one part per worker; the reaper says more with what is free now.
        part = Demand(demand.cpu, demand.memory_gb, demand.gpu, demand.gpu_type, node_count=1)
        able = sum(1 for capacity in capacities if fits(part, capacity))
        if able >= demand.node_count:
            return None
        return (
            f"{WAITING_PREFIX} needs {demand.node_count} workers that can each take one part; "
            f"{able} active worker(s) can"
        )
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


@dataclass(frozen=True)
class ClaimSpec:
    """Everything one claim needs: who claims, what it has free, and the aging settings."""

    worker_id: str
    worker_name: str
    free: Capacity
    now: datetime
    aging_rate: float
    aging_max_boost: float


# --- the reaper ---------------------------------------------------------------------------------------


class Reaper(Periodic):
    """Recovers lost workers' tasks, finishes drains, explains waiting tasks: `WorkerManager.reap`.

    Each API process runs one; their passes may overlap freely (every change is a conditional UPDATE).
    `WorkerManager.reap()` is the single pass; tests call it directly instead of waiting for the loop.
    Every `interval` seconds a tick probes first (`WorkerManager.reap_if_due`, one cheap query) and runs
    the pass only when it has work. With nothing to do, the reaper sleeps until the earliest lease or
    reservation ends (so a lost worker is still found within `interval` of its lease's end), at most
    `IDLE_MAX_SECONDS`, or until a commit of this process that wrote events wakes it (a task queued, a
    worker drained, a claim: whatever could give it work; another process's changes wake that process's
    own reaper).
    """

    name = "runplane-reaper"

    IDLE_MAX_SECONDS = 15.0

    def __init__(self, workers: WorkerManager, interval: float = 1.0) -> None:
        super().__init__(interval)
        self.workers = workers

    def start(self) -> None:
        if self.enabled and self._task is None:
            notify.add_listener(self.wake)
        super().start()

    async def stop(self) -> None:
        notify.remove_listener(self.wake)
        await super().stop()

    async def run_once(self) -> float | None:
        return await self.workers.reap_if_due(longest=max(self.interval, self.IDLE_MAX_SECONDS))
