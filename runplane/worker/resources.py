"""What a worker has free, and which cores and GPUs each of its running tasks holds.

The server decides *whether* a task fits (a claim carries the worker's free cpu, memory, GPUs and slots);
the worker decides *which* of its cores and GPUs the task gets. Cores are pinned by id through the task's
CPU affinity; when a worker advertises more cores than it can pin (``--cores`` above the real count) the
least-used cores are shared rather than refusing work the operator asked for. GPUs are never shared: a task
that needs more GPUs than are free locally cannot start (:class:`InsufficientResources`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from generated.models import ClaimRequest

# The contract's bounds on a claim (ClaimRequest): a huge machine is clamped, never refused.
_MAX_CPU = 4096
_MAX_MEMORY_GB = 65536.0
_MAX_GPUS = 64
_MAX_SLOTS = 1024


class InsufficientResources(Exception):
    """The worker cannot give a task what it was assigned (only GPUs are strict)."""


@dataclass(frozen=True)
class Allocation:
    """What one task holds: ``cpu`` cores counted against the worker, pinned to ``cpu_ids``."""

    cpu: int
    cpu_ids: tuple[int, ...]
    memory_gb: float
    gpu_indices: tuple[int, ...]


def usable_cpu_ids(cores: int | None = None) -> list[int]:
    """The CPU ids tasks may be pinned to: this process's affinity, the first ``cores`` of it if fewer."""
    ids = sorted(os.sched_getaffinity(0))
    if cores is not None and 0 < cores < len(ids):
        ids = ids[:cores]
    return ids


class LocalResources:
    def __init__(
        self,
        *,
        cores: int,
        cpu_ids: Sequence[int],
        memory_gb: float,
        gpu_indices: Sequence[int],
        slots: int,
    ) -> None:
        if cores < 1 or slots < 1 or memory_gb < 0 or not cpu_ids:
            raise ValueError("a worker needs at least one core, one slot and one CPU to pin to")
        self.cores = cores
        self.memory_gb = memory_gb
        self.slots = slots
        self.gpu_indices = tuple(gpu_indices)
        self._cpu_use: Counter[int] = Counter(dict.fromkeys(cpu_ids, 0))
        self._used_cpu = 0
        self._used_memory = 0.0
        self._used_slots = 0
        self._free_gpus = list(self.gpu_indices)

    @property
    def free_slots(self) -> int:
        return max(0, self.slots - self._used_slots)

    @property
    def free_cpu(self) -> int:
        return max(0, self.cores - self._used_cpu)

    @property
    def free_memory_gb(self) -> float:
        return max(0.0, round(self.memory_gb - self._used_memory, 4))

    @property
    def free_gpus(self) -> int:
        return len(self._free_gpus)

    def claim_request(self) -> ClaimRequest:
        return ClaimRequest(
            free_slots=min(self.free_slots, _MAX_SLOTS),
            free_cpu=min(self.free_cpu, _MAX_CPU),
            free_memory_gb=min(self.free_memory_gb, _MAX_MEMORY_GB),
            free_gpus=min(self.free_gpus, _MAX_GPUS),
        )

    def allocate(self, *, cpu: int, memory_gb: float, gpu: int) -> Allocation:
        if gpu > len(self._free_gpus):
            raise InsufficientResources(
                f"the task needs {gpu} GPU(s) and this worker has {len(self._free_gpus)} free"
            )
        gpus = tuple(self._free_gpus[:gpu])
        del self._free_gpus[:gpu]
        # Least-used cores first (lowest id on ties), so tasks spread before they share.
        ranked = sorted(self._cpu_use, key=lambda cpu_id: (self._cpu_use[cpu_id], cpu_id))
        pinned = tuple(sorted(ranked[: max(1, min(cpu, len(ranked)))]))
        self._cpu_use.update(pinned)
        self._used_cpu += cpu
        self._used_memory += memory_gb
        self._used_slots += 1
        return Allocation(cpu=cpu, cpu_ids=pinned, memory_gb=memory_gb, gpu_indices=gpus)

    def release(self, allocation: Allocation) -> None:
        self._cpu_use.subtract(allocation.cpu_ids)
        self._used_cpu -= allocation.cpu
        self._used_memory -= allocation.memory_gb
        self._used_slots -= 1
        self._free_gpus = sorted({*self._free_gpus, *allocation.gpu_indices})
