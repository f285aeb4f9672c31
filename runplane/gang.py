"""Multi-node (gang) scheduling rules: placement, holding capacity for the head gang, part states.

A task with ``node_count`` N > 1 runs as N parts (ranks 0..N-1), one per worker, started together. The
rules here are pure (no SQL); `runplane.store.gangs` applies them inside one transaction.

Placement (all or nothing). A gang is placed during the claim of a worker that can take one part: that
worker becomes rank 0 (its claim's ``master_port``, a port it found free, becomes ``MASTER_PORT``), and
N-1 other active workers that can each take one part right now get ranks 1..N-1 (the freest first, then by
worker id, so every API process chooses alike). What another worker has free is its registered capacity
less its active single-node tasks and its unreleased parts. All N parts are inserted, and the task moves
to ``preparing``, in one transaction that holds every active worker's row (PostgreSQL: ``FOR UPDATE``
after one advisory lock that orders gang placements; SQLite: the write lock), so two gangs never take the
same free capacity and a part is never given twice. Nothing is held while a gang waits: a gang that does
not fit changes nothing (no partial start, no deadlock between gangs).

No starvation (backfill). While a gang is the head of the queue (the highest effective priority of all
queued tasks, aging included: `runplane.tasks.AgingPolicy`) and the fleet could run it by registered
capacity, the N workers it would use (`hold_for`) take no new single-node tasks; they empty as their
work ends and the gang is placed. Workers it does not need keep taking small tasks (Slurm's backfill,
without run-time estimates: a held worker takes nothing new). A gang that the fleet can never run holds
nothing and says why in its message.

Part states. A part follows the task's path (preparing → running → collecting → completed). The task is
as far as its slowest part (`gang_status`): running once every part runs, completed once every part
completed. The first part that fails ends the gang: the task fails (or is retried whole as a new attempt,
by its retry policy) with that part's reason, naming the rank, and the other parts are stopped by their
workers (they are told on heartbeats, as a cancel is).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runplane.lifecycle import TaskStatus
from runplane.scheduler import WAITING_PREFIX, Capacity, Demand, fits

if TYPE_CHECKING:
    from runplane.store.tables import TaskRow

# The order of a part's (and the gang's) progress; failed / cancelled end it.
S = TaskStatus
PART_ORDER: tuple[TaskStatus, ...] = (S.preparing, S.running, S.collecting, S.completed)
PART_ENDED: tuple[TaskStatus, ...] = (S.completed, S.failed, S.cancelled)
# Without a port from the claiming worker, MASTER_PORT is chosen in this range (torch's default is 29500).
DEFAULT_PORT_BASE = 29500
DEFAULT_PORT_SPAN = 1000


@dataclass(frozen=True)
class Rank:
    """One part of a gang as its worker gets it: its rank among `world_size`."""

    rank: int
    world_size: int


@dataclass(frozen=True)
class Claimed:
    """A task a claim hands to a worker; `rank` is set for a part of a multi-node task."""

    task: TaskRow
    rank: Rank | None = None


@dataclass(frozen=True)
class Node:
    """A worker as placement sees it: its registered capacity and what it has free now."""

    worker_id: str
    total: Capacity
    free: Capacity


def one_part(demand: Demand) -> Demand:
    """A gang's demand per part (what one worker must have free): the same resources, one node."""
    return Demand(
        cpu=demand.cpu, memory_gb=demand.memory_gb, gpu=demand.gpu, gpu_type=demand.gpu_type, node_count=1
    )


def _freest(node: Node) -> tuple[float, ...]:
    free = node.free
    return (-free.slots, -free.gpus, -free.cpu, -free.memory_gb)


def place(demand: Demand, claimer: Node, others: Sequence[Node]) -> list[str] | None:
    """The workers for ranks 0..N-1 (the claimer first) when the gang fits now; None when it does not.

    `others` are the other active workers (the claimer is skipped if listed). Each chosen worker can take
    one part with what it has free; the freest are chosen first, ties by worker id.
    """
    part = one_part(demand)
    if not fits(part, claimer.free):
        return None
    candidates = sorted(
        (node for node in others if node.worker_id != claimer.worker_id and fits(part, node.free)),
        key=lambda node: (*_freest(node), node.worker_id),
    )
    if len(candidates) < demand.node_count - 1:
        return None
    return [claimer.worker_id, *(node.worker_id for node in candidates[: demand.node_count - 1])]


def could_ever_run(demand: Demand, nodes: Sequence[Node]) -> bool:
    """Whether N distinct workers could each take one part by registered capacity (an empty fleet)."""
    part = one_part(demand)
    return sum(1 for node in nodes if fits(part, node.total)) >= demand.node_count


def hold_for(demand: Demand, nodes: Sequence[Node]) -> list[str]:
    """The workers the head gang waits for: N that could take a part when empty, the freest now first.

    Empty when the fleet can never run it (then it holds nothing).
    """
    part = one_part(demand)
    able = sorted(
        (node for node in nodes if fits(part, node.total)), key=lambda node: (*_freest(node), node.worker_id)
    )
    if len(able) < demand.node_count:
        return []
    return [node.worker_id for node in able[: demand.node_count]]


def waiting_reason(demand: Demand, nodes: Sequence[Node]) -> str:
    """Why a gang is still queued, from the active workers (`nodes`): never empty."""
    part = one_part(demand)
    wanted = demand.node_count
    able = sum(1 for node in nodes if fits(part, node.total))
    free_now = sum(1 for node in nodes if fits(part, node.free))
    if not nodes:
        return f"{WAITING_PREFIX} no active worker is registered"
    if able < wanted:
        return (
            f"{WAITING_PREFIX} needs {wanted} workers that can each take one part "
            f"({_per_part(demand)}); {able} of {len(nodes)} active worker(s) can"
        )
    return (
        f"{WAITING_PREFIX} for {wanted} workers with a free slot and {_per_part(demand)} at the same "
        f"moment; {free_now} can take a part now"
    )


def _per_part(demand: Demand) -> str:
    parts = [f"{demand.cpu} CPU core(s)", f"{demand.memory_gb:g} GB"]
    if demand.gpu:
        parts.append(f"{demand.gpu}{' ' + demand.gpu_type if demand.gpu_type else ''} GPU(s)")
    return ", ".join(parts)


def gang_status(statuses: Sequence[str]) -> TaskStatus:
    """The task's status from its parts' while none failed: as far as the slowest part.

    Always one of `PART_ORDER`: a part that ended otherwise (failed, cancelled) is not counted, and with
    no part left the gang is as far as ``preparing``.
    """
    live = [S(status) for status in statuses if status in PART_ORDER]
    return min(live, key=PART_ORDER.index, default=S.preparing)


def default_port(task_id: str, attempt: int) -> int:
    """A MASTER_PORT for a gang whose rank-0 worker named none: stable per task attempt."""
    return DEFAULT_PORT_BASE + zlib.crc32(f"{task_id}:{attempt}".encode()) % DEFAULT_PORT_SPAN


def failure_text(rank: int, worker_name: str, text: str) -> str:
    """The gang's failure message for a part's failure: names the rank and its worker."""
    return f"rank {rank} (worker {worker_name}) {text}"
