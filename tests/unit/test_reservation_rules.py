"""Reservation rules without a database: choosing workers (and the 409s), and the fit with held capacity."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runplane.errors import Conflict
from runplane.reservations import PerNode, choose_workers
from runplane.scheduler import Capacity, Demand, Hold, fits, unreserved, usable, waiting_reason
from runplane.store.reservations import Booked
from runplane.store.tables import WorkerRow

pytestmark = pytest.mark.unit

H100 = {"index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_mb": 81559}
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def worker(
    worker_id: str, *, gpus: int = 0, cpu: int = 8, memory_gb: float = 32, slots: int = 2
) -> WorkerRow:
    return WorkerRow(
        id=worker_id,
        user_id="w",
        name=worker_id,
        hostname=worker_id,
        version="1",
        status="active",
        cpu_cores=cpu,
        memory_gb=memory_gb,
        gpus=[{**H100, "index": n} for n in range(gpus)],
        slots=slots,
        connected_at=NOW,
        last_heartbeat=NOW,
        lease_expires_at=NOW,
        drain_requested_at=None,
        offline_at=None,
    )


def test_the_tightest_gpu_fit_is_bound_first():
    workers = [worker("big", gpus=4), worker("small", gpus=2), worker("cpu")]
    assert choose_workers(PerNode(1, 1, 2, "H100"), 1, workers, {}) == ["small"]
    assert choose_workers(PerNode(1, 1, 2, None), 2, workers, {}) == ["small", "big"]
    assert choose_workers(PerNode(4, 8, 0, None), 3, workers, {}) == ["cpu", "small", "big"]


def test_what_other_reservations_book_is_not_free():
    workers = [worker("a", gpus=2, slots=2)]
    with pytest.raises(Conflict) as raised:
        choose_workers(PerNode(1, 1, 1, None), 1, workers, {"a": Booked(cpu=1, memory_gb=1, gpus=2, slots=1)})
    assert raised.value.details == {"node_count": 1, "workers_able": 0, "workers_lacking": {"gpus": 1}}
    with pytest.raises(Conflict) as raised:
        choose_workers(PerNode(1, 1, 0, None), 1, workers, {"a": Booked(slots=2)})
    assert "workers lack a free task slot" in raised.value.message


def test_a_task_uses_its_own_reservation_and_never_anothers():
    free = Capacity(cpu=8, memory_gb=32, gpu_names=("H100",) * 4, gpus=4, slots=2)
    mine = Hold("r1", "alice", cpu=2, memory_gb=4, gpus=2, slots=1)
    theirs = Hold("r2", "bob", cpu=2, memory_gb=4, gpus=2, slots=1)
    assert usable(free, [mine, theirs], None, "alice") == Capacity(4, 24, free.gpu_names, 0, 0)
    assert usable(free, [mine, theirs], "r1", "alice") == Capacity(2, 4, free.gpu_names, 2, 1)
    assert usable(free, [mine, theirs], "r2", "alice") is None
    assert not fits(Demand(1, 1, 0, None, 1), usable(free, [mine, theirs], None, "alice"))  # no slot
    assert fits(Demand(2, 4, 2, "H100", 1), usable(free, [mine, theirs], "r1", "alice"))
    assert not fits(Demand(3, 4, 2, "H100", 1), usable(free, [mine, theirs], "r1", "alice"))


def test_a_task_blocked_only_by_reservations_says_so():
    total = Capacity(cpu=8, memory_gb=32, gpu_names=("H100",) * 2, gpus=2, slots=2)
    held = Capacity(cpu=1, memory_gb=1, gpu_names=(), gpus=2, slots=1)
    gpu_task = Demand(1, 1, 1, None, 1)
    assert waiting_reason(gpu_task, [total], [unreserved(total, held)]) == (
        "Waiting: the capacity it needs is held by reservations until they end"
    )
    assert waiting_reason(Demand(1, 1, 0, None, 1), [total], [unreserved(total, held)]) is None
    assert waiting_reason(gpu_task, [total], [unreserved(total, None)]) is None
