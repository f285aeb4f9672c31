"""The claim statement is built once per dialect and shape; each claim only binds its values (issue 11 §2).

That the SQL chooses the same task as the Python rule is proven on both databases by
tests/integration/test_scheduler_claim_agreement.py; this checks the caching and the parameters.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runplane.scheduler import Capacity, ClaimSpec
from runplane.store.claim import claim_statement

pytestmark = pytest.mark.unit


def spec(worker: str, *, gpus: tuple[str, ...] = (), slots: int = 2, minute: int = 0) -> ClaimSpec:
    return ClaimSpec(
        worker_id=worker,
        worker_name=f"name-{worker}",
        free=Capacity(cpu=4, memory_gb=8.0, gpu_names=gpus, gpus=len(gpus), slots=slots),
        now=datetime(2026, 11, 30, 6, minute, tzinfo=UTC),
        aging_rate=0.5,
        aging_max_boost=10.0,
    )


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_one_statement_serves_every_claim_of_a_shape(dialect: str) -> None:
    first, params = claim_statement(dialect, spec("w1"))
    second, other = claim_statement(dialect, spec("w2", minute=5))
    assert first is second  # not rebuilt: the worker, the time and what is free are parameters
    assert params == {
        "claim_worker_id": "w1",
        "claim_now": datetime(2026, 11, 30, 6, 0, tzinfo=UTC),
        "claim_cpu": 4,
        "claim_memory_gb": 8.0,
        "claim_gpus": 0,
        "claim_slots": 2,
        "claim_aging_rate": 0.5,
        "claim_aging_max_boost": 10.0,
        "claim_message": "Preparing on worker name-w1",
    }
    assert other["claim_worker_id"] == "w2" and other["claim_message"] == "Preparing on worker name-w2"


def test_gpu_names_and_a_full_worker_are_other_shapes() -> None:
    plain, _ = claim_statement("sqlite", spec("w1"))
    gpu, _ = claim_statement("sqlite", spec("w1", gpus=("NVIDIA H100",)))
    same_gpu, _ = claim_statement("sqlite", spec("w2", gpus=("nvidia h100",)))
    full, _ = claim_statement("sqlite", spec("w1", slots=0))
    assert gpu is same_gpu  # names are matched case-insensitively, so they share a statement
    assert len({id(plain), id(gpu), id(full)}) == 3
    assert claim_statement("postgresql", spec("w1"))[0] is not plain
