"""Machine capabilities: cores, memory, GPUs (none here without NVML), cgroup limits, CUDA env."""

from __future__ import annotations

import logging
import os
import sys
import types
from pathlib import Path

import pytest

from runplane.worker.capabilities import (
    GpuInfo,
    MachineCapabilities,
    cgroup_limits,
    detect_capabilities,
    detect_gpus,
    gpu_env,
)


def test_detects_cores_and_memory_of_this_machine() -> None:
    capabilities = detect_capabilities()
    assert isinstance(capabilities, MachineCapabilities)
    assert 1 <= capabilities.cpu_cores <= len(os.sched_getaffinity(0))
    physical_gb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    assert 0 < capabilities.memory_gb <= round(physical_gb, 2)
    assert all(isinstance(gpu, GpuInfo) for gpu in capabilities.gpus)


def test_gpu_discovery_never_raises_nor_logs_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="runplane.worker.capabilities"):
        gpus = detect_gpus()
    assert all(gpu.memory_mb > 0 and gpu.uuid for gpu in gpus)
    assert [gpu.index for gpu in gpus] == list(range(len(gpus)))
    assert all(record.exc_info is None for record in caplog.records)


def test_no_gpus_without_the_nvml_package(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # None in sys.modules makes "import pynvml" raise ImportError, as on a machine without nvidia-ml-py.
    monkeypatch.setitem(sys.modules, "pynvml", None)
    with caplog.at_level(logging.DEBUG, logger="runplane.worker.capabilities"):
        assert detect_gpus() == []
    assert all(record.exc_info is None for record in caplog.records)


class FakeNvml(types.ModuleType):
    """Stands in for pynvml where no GPU exists: checks how NVML's answers are read and NVML shut down."""

    class NVMLError(Exception):
        pass

    def __init__(
        self, devices: list[tuple[str | bytes, int, str | bytes]], fail_at: int | None = None
    ) -> None:
        super().__init__("pynvml")
        self.devices = devices
        self.fail_at = fail_at
        self.shutdowns = 0

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if index == self.fail_at:
            raise self.NVMLError("GPU is lost")
        return index

    def nvmlDeviceGetName(self, handle: int) -> str | bytes:
        return self.devices[handle][0]

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> types.SimpleNamespace:
        return types.SimpleNamespace(total=self.devices[handle][1], free=0, used=0)

    def nvmlDeviceGetUUID(self, handle: int) -> str | bytes:
        return self.devices[handle][2]


def test_gpus_as_nvml_reports_them(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml(
        [("NVIDIA H100 80GB HBM3", 85_520_809_984, "GPU-aaaa"), (b"NVIDIA A10", 24 * 2**30, b"GPU-bbbb")]
    )
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    assert detect_gpus() == [
        GpuInfo(index=0, name="NVIDIA H100 80GB HBM3", memory_mb=81559, uuid="GPU-aaaa"),
        GpuInfo(index=1, name="NVIDIA A10", memory_mb=24576, uuid="GPU-bbbb"),
    ]
    assert nvml.shutdowns == 1


def test_a_failing_gpu_means_no_gpus_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    nvml = FakeNvml([("GPU", 2**30, "GPU-a"), ("GPU", 2**30, "GPU-b")], fail_at=1)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    with caplog.at_level(logging.DEBUG, logger="runplane.worker.capabilities"):
        assert detect_gpus() == []
    assert nvml.shutdowns == 1
    assert all(record.exc_info is None for record in caplog.records)


def test_gpu_env() -> None:
    assert gpu_env([0, 2]) == {"CUDA_VISIBLE_DEVICES": "0,2", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    # No GPU asked for: none visible, rather than all of them.
    assert gpu_env([])["CUDA_VISIBLE_DEVICES"] == ""
    with pytest.raises(ValueError, match="negative"):
        gpu_env([-1])
    with pytest.raises(ValueError, match="repeat"):
        gpu_env([1, 1])


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_limits_tightest_ancestor_wins(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    _write(root / "cgroup.controllers", "cpu memory")
    _write(root / "worker.slice" / "cpu.max", "max 100000")
    _write(root / "worker.slice" / "memory.max", str(8 * 2**30))
    _write(root / "worker.slice" / "agent" / "cpu.max", "250000 100000")
    _write(root / "worker.slice" / "agent" / "memory.max", "max")
    proc = tmp_path / "proc-cgroup"
    _write(proc, "0::/worker.slice/agent\n")
    assert cgroup_limits(proc, root) == (2.5, 8 * 2**30)


def test_cgroup_v1_limits(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    _write(root / "cpu" / "docker" / "abc" / "cpu.cfs_quota_us", "150000")
    _write(root / "cpu" / "docker" / "abc" / "cpu.cfs_period_us", "100000")
    _write(root / "memory" / "docker" / "abc" / "memory.limit_in_bytes", str(4 * 2**30))
    _write(root / "memory" / "memory.limit_in_bytes", "9223372036854771712")  # "unlimited" in v1
    proc = tmp_path / "proc-cgroup"
    _write(proc, "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n")
    assert cgroup_limits(proc, root) == (1.5, 4 * 2**30)


def test_no_cgroup_information_means_no_limits(tmp_path: Path) -> None:
    assert cgroup_limits(tmp_path / "missing", tmp_path) == (None, None)
    proc = tmp_path / "proc-cgroup"
    _write(proc, "0::/\n")
    assert cgroup_limits(proc, tmp_path / "empty-root") == (None, None)
