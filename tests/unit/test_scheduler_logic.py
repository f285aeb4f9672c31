"""The scheduler's pure rules: GPU type matching, fit by capacity, waiting reasons, failure messages."""

from __future__ import annotations

import pytest

from runplane.lifecycle import failure_message
from runplane.scheduler import Capacity, Demand, fits, gpu_type_matches, waiting_reason

pytestmark = pytest.mark.unit

H100 = "NVIDIA H100 80GB HBM3"


def demand(
    cpu: int = 1, memory_gb: float = 1, gpu: int = 0, gpu_type: str | None = None, nodes: int = 1
) -> Demand:
    return Demand(cpu=cpu, memory_gb=memory_gb, gpu=gpu, gpu_type=gpu_type, node_count=nodes)


def capacity(cpu: int = 8, memory_gb: float = 32, gpus: tuple[str, ...] = (), slots: int = 1) -> Capacity:
    return Capacity(cpu=cpu, memory_gb=memory_gb, gpu_names=gpus, gpus=len(gpus), slots=slots)


@pytest.mark.parametrize(
    ("gpu_type", "names", "expected"),
    [
        (None, (), True),
        (None, (H100,), True),
        ("H100", (H100,), True),
        ("h100", (H100,), True),
        ("nvidia h100 80gb", (H100,), True),
        ("A100", (H100,), False),
        ("A100", ("Tesla T4", "NVIDIA A100-SXM4-40GB"), True),
        ("H100", (), False),
    ],
)
def test_gpu_type_is_a_case_insensitive_substring_of_a_gpu_name(gpu_type, names, expected):
    assert gpu_type_matches(gpu_type, names) is expected


def test_fit_needs_every_resource_a_slot_and_one_node():
    assert fits(demand(cpu=8, memory_gb=32), capacity())
    assert not fits(demand(cpu=9), capacity())
    assert not fits(demand(memory_gb=32.5), capacity())
    assert not fits(demand(gpu=1), capacity())
    assert fits(demand(gpu=1, gpu_type="H100"), capacity(gpus=(H100,)))
    assert not fits(demand(gpu=2), capacity(gpus=(H100,)))
    assert not fits(demand(), capacity(slots=0))
    assert not fits(demand(nodes=2), capacity())


def test_waiting_reasons_name_what_no_worker_has():
    workers = [capacity(cpu=8, memory_gb=32), capacity(cpu=64, memory_gb=16)]
    assert waiting_reason(demand(cpu=4), workers) is None
    assert waiting_reason(demand(), []) == "Waiting: no active worker is registered"
    assert waiting_reason(demand(gpu=1), workers) == "Waiting: no active worker has 1 GPU(s)"
    assert (
        waiting_reason(demand(gpu=2, gpu_type="A100"), workers)
        == "Waiting: no active worker has 2 A100 GPU(s)"
    )
    assert waiting_reason(demand(cpu=128), workers) == "Waiting: no active worker has 128 CPU core(s)"
    assert waiting_reason(demand(cpu=128, memory_gb=256, gpu=1), workers) == (
        "Waiting: no active worker has 128 CPU core(s), 256 GB of memory or 1 GPU(s)"
    )
    # Each resource exists somewhere, but not together on one worker.
    assert waiting_reason(demand(cpu=32, memory_gb=32), workers) == (
        "Waiting: no active worker has 32 CPU core(s) and 32 GB of memory together"
    )
    assert waiting_reason(demand(nodes=4), workers) == (
        "Waiting: multi-node tasks (node_count 4) are not scheduled yet"
    )
    # A worker with the GPU type asked for only counts when it has that type.
    assert waiting_reason(demand(gpu=1, gpu_type="h100"), [capacity(gpus=(H100,))]) is None
    assert waiting_reason(demand(gpu_type="A100"), [capacity(gpus=(H100,))]) == (
        "Waiting: no active worker has a GPU of type A100"
    )


def test_default_failure_messages():
    assert failure_message("exit_code", 3, None) == "exited with code 3"
    assert failure_message("exit_code", None, None) == "exited with an error"
    assert failure_message("timeout", None, 60) == "timed out after 60 s"
    assert failure_message("out_of_memory", 137, None) == "ran out of memory"
    assert failure_message("internal", None, None) == "failed"
