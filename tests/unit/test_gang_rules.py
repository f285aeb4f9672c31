"""The gang (multi-node) rules: placement all or nothing, the head gang's hold, waiting reasons, status."""

from __future__ import annotations

from pathlib import Path

import pytest

from generated.models import TaskAssignment
from runplane import gang
from runplane.scheduler import Capacity, Demand
from runplane.worker.launch import TaskDirs, build_env, rank_env
from tests.support.workers import assignment_body

pytestmark = pytest.mark.unit


def demand(nodes: int, cpu: int = 1, gpu: int = 0) -> Demand:
    return Demand(cpu=cpu, memory_gb=1, gpu=gpu, gpu_type=None, node_count=nodes)


def cap(cpu: int = 4, slots: int = 1, gpus: int = 0) -> Capacity:
    return Capacity(cpu=cpu, memory_gb=16, gpu_names=("GPU",) * gpus, gpus=gpus, slots=slots)


def node(worker_id: str, *, free: Capacity | None = None, total: Capacity | None = None) -> gang.Node:
    return gang.Node(worker_id=worker_id, total=total or cap(), free=free or total or cap())


BUSY = cap(cpu=0, slots=0)


def test_a_gang_is_placed_whole_with_the_claimer_as_rank_0() -> None:
    others = [node("b"), node("c"), node("a")]
    assert gang.place(demand(3), node("z"), others) == ["z", "a", "b"]


def test_a_gang_that_does_not_fit_now_is_not_placed_at_all() -> None:
    others = [node("b"), node("c", free=BUSY)]
    assert gang.place(demand(3), node("a"), others) is None
    # The claimer itself must fit one part.
    assert gang.place(demand(2), node("a", free=BUSY), [node("b")]) is None


def test_placement_prefers_the_freest_workers_and_never_repeats_one() -> None:
    others = [node("b", free=cap(slots=1)), node("c", free=cap(slots=3)), node("a", free=cap(slots=2))]
    assert gang.place(demand(3), node("a"), others) == ["a", "c", "b"]


def test_the_head_gang_holds_the_workers_it_would_use_only_when_the_fleet_can_run_it() -> None:
    nodes = [node("a", free=BUSY), node("b"), node("c", total=cap(cpu=1))]
    assert gang.hold_for(demand(2, cpu=2), nodes) == ["b", "a"]
    assert gang.hold_for(demand(3, cpu=2), nodes) == []  # c can never take a 2-core part


def test_waiting_reasons_say_how_many_workers_can_take_a_part() -> None:
    nodes = [node("a", free=BUSY), node("b")]
    assert gang.waiting_reason(demand(3), nodes) == (
        "Waiting: needs 3 workers that can each take one part (1 CPU core(s), 1 GB); 2 of 2 active "
        "worker(s) can"
    )
    assert gang.waiting_reason(demand(2), nodes) == (
        "Waiting: for 2 workers with a free slot and 1 CPU core(s), 1 GB at the same moment; 1 can take a "
        "part now"
    )
    assert gang.waiting_reason(demand(2), []) == "Waiting: no active worker is registered"


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (["preparing", "running"], "preparing"),
        (["running", "running"], "running"),
        (["completed", "running"], "running"),
        (["collecting", "completed"], "collecting"),
        (["completed", "completed", "completed"], "completed"),
        # Ended parts (a failed one the gang is ending on, stopped ones) are not counted: never a status
        # without a task message (no KeyError in runplane.gangs).
        (["failed", "running"], "running"),
        (["cancelled", "collecting", "completed"], "collecting"),
        (["cancelled", "failed"], "preparing"),
    ],
)
def test_the_gang_is_as_far_as_its_slowest_part(parts: list[str], expected: str) -> None:
    assert gang.gang_status(parts) == expected


def test_the_default_port_is_stable_per_attempt_and_in_range() -> None:
    port = gang.default_port("t1", 1)
    assert port == gang.default_port("t1", 1)
    assert gang.DEFAULT_PORT_BASE <= port < gang.DEFAULT_PORT_BASE + gang.DEFAULT_PORT_SPAN


def test_a_part_gets_the_torch_distributed_variables(tmp_path: Path) -> None:
    part = TaskAssignment.model_validate(
        assignment_body(rank=2, world_size=3, master_addr="10.0.0.5", master_port=29511, env={"RANK": "9"})
    )
    env = build_env(part, TaskDirs.for_task(tmp_path, "t1", 1), [], worker_env={})
    expected = {
        "RANK": "2",
        "WORLD_SIZE": "3",
        "LOCAL_RANK": "0",
        "LOCAL_WORLD_SIZE": "1",
        "NODE_RANK": "2",
        "MASTER_ADDR": "10.0.0.5",
        "MASTER_PORT": "29511",
        "RUNPLANE_RANK": "2",
        "RUNPLANE_WORLD_SIZE": "3",
        "RUNPLANE_NODE_RANK": "2",
        "RUNPLANE_MASTER_ADDR": "10.0.0.5",
        "RUNPLANE_MASTER_PORT": "29511",
    }
    assert {name: env[name] for name in expected} == expected  # the task's own RANK does not win


def test_a_single_node_task_gets_no_rank_variables() -> None:
    assert rank_env(TaskAssignment.model_validate(assignment_body())) == {}
