"""What this machine offers to tasks: CPU cores, memory and NVIDIA GPUs.

Cores and memory are what this process may actually use: the CPU affinity mask and any cgroup CPU quota or
memory limit (v1 or v2) count, not just the hardware. GPUs come from NVML (``pynvml``, package
``nvidia-ml-py``); without the library, the driver or a GPU there are simply none, and no traceback.

GPUs reach a task through ``CUDA_VISIBLE_DEVICES`` (:func:`gpu_env`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

_PROC_SELF_CGROUP = Path("/proc/self/cgroup")
_CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 reports "no limit" as a huge page-aligned number rather than "max".
_V1_UNLIMITED = 1 << 62


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as NVML numbers it (PCI bus order, which :func:`gpu_env` makes CUDA use too)."""

    index: int
    name: str
    memory_mb: int
    uuid: str


@dataclass(frozen=True)
class MachineCapabilities:
    cpu_cores: int
    memory_gb: float
    gpus: list[GpuInfo] = field(default_factory=list)


def detect_capabilities() -> MachineCapabilities:
    cpu_quota, memory_limit = cgroup_limits()
    cores = len(os.sched_getaffinity(0))
    if cpu_quota is not None:
        cores = max(1, min(cores, math.floor(cpu_quota)))
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if memory_limit is not None:
        memory = min(memory, memory_limit)
    return MachineCapabilities(cpu_cores=cores, memory_gb=round(memory / 2**30, 2), gpus=detect_gpus())


def detect_gpus() -> list[GpuInfo]:
    """NVIDIA GPUs via NVML; ``[]`` when NVML, its driver or any GPU is missing."""
    try:
        import pynvml
    except ImportError:
        logger.info("nvidia-ml-py is not installed; no GPUs")
        return []
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...: a machine without GPUs
        logger.info("NVML unavailable (%s); no GPUs", exc)
        return []
    try:
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            gpus.append(
                GpuInfo(
                    index=index,
                    name=_text(pynvml.nvmlDeviceGetName(handle)),
                    memory_mb=int(pynvml.nvmlDeviceGetMemoryInfo(handle).total) // 2**20,
                    uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
                )
            )
        return gpus
    except Exception as exc:  # a GPU fallen off the bus, a driver/library mismatch: report none, run on
        logger.warning("NVML failed while listing GPUs (%s); no GPUs", exc)
        return []
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception as exc:
            logger.info("nvmlShutdown failed: %s", exc)


def _text(value: str | bytes) -> str:
    # Older nvidia-ml-py releases return bytes.
    return value.decode() if isinstance(value, bytes) else value


def gpu_env(indices: Sequence[int]) -> dict[str, str]:
    """Environment that gives a task exactly the GPUs ``indices`` (NVML indices).

    An empty list yields ``CUDA_VISIBLE_DEVICES=""``, which hides every GPU: a task that asked for none
    must not see, and trample on, GPUs assigned to other tasks. ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` makes
    CUDA number devices like NVML does; its default ("fastest first") may differ on mixed machines.
    """
    if any(index < 0 for index in indices):
        raise ValueError(f"GPU indices must not be negative: {list(indices)}")
    if len(set(indices)) != len(indices):
        raise ValueError(f"GPU indices must not repeat: {list(indices)}")
    return {
        "CUDA_VISIBLE_DEVICES": ",".join(str(index) for index in indices),
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
    }


def cgroup_limits(
    proc_cgroup: Path = _PROC_SELF_CGROUP, root: Path = _CGROUP_ROOT
) -> tuple[float | None, int | None]:
    """``(CPUs allowed by the CPU quota, memory limit in bytes)`` of this process's cgroup; ``None`` = none.

    The tightest limit of the cgroup and its ancestors wins, as in the kernel.
    """
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None, None
    paths: dict[str, str] = {}
    for line in lines:
        fields = line.split(":", 2)
        if len(fields) == 3:
            for controller in fields[1].split(",") if fields[1] else [""]:
                paths[controller] = fields[2]
    try:
        if "" in paths and (root / "cgroup.controllers").exists():
            directories = _ancestry(root, paths[""])
            return _min(_v2_cpu(d) for d in directories), _min_int(_v2_memory(d) for d in directories)
        cpu: float | None = None
        memory: int | None = None
        if "cpu" in paths:
            cpu = _min(_v1_cpu(d) for d in _ancestry(root / "cpu", paths["cpu"]))
        if "memory" in paths:
            memory = _min_int(_v1_memory(d) for d in _ancestry(root / "memory", paths["memory"]))
        return cpu, memory
    except ValueError as exc:
        logger.warning("unreadable cgroup limits (%s); assuming none", exc)
        return None, None


def _ancestry(base: Path, cgroup_path: str) -> list[Path]:
    parts = [part for part in cgroup_path.split("/") if part]
    return [base.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _v2_cpu(directory: Path) -> float | None:
    text = _read(directory / "cpu.max")
    if not text:
        return None
    quota, _, period = text.partition(" ")
    if quota == "max" or not period:
        return None
    return int(quota) / int(period)


def _v2_memory(directory: Path) -> int | None:
    text = _read(directory / "memory.max")
    return None if not text or text == "max" else int(text)


def _v1_cpu(directory: Path) -> float | None:
    quota, period = _read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us")
    if not quota or not period or int(quota) <= 0:
        return None
    return int(quota) / int(period)


def _v1_memory(directory: Path) -> int | None:
    text = _read(directory / "memory.limit_in_bytes")
    if not text or int(text) >= _V1_UNLIMITED:
        return None
    return int(text)


def _min(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return min(present) if present else None


def _min_int(values: Iterable[int | None]) -> int | None:
    present = [value for value in values if value is not None]
    return min(present) if present else None
