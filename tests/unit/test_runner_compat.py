"""The Model Runner translation rules: status words, progress, messages and run seeds."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generated.models import RunState, TaskStatus
from runplane.errors import Unprocessable
from runplane.runner_compat import (
    DEFAULT_RUN_SEED,
    MAX_MESSAGE,
    MAX_SEED,
    run_message,
    run_progress,
    run_seed,
    run_state,
    run_task,
)
from runplane.store.tables import TaskRow

pytestmark = pytest.mark.unit


def row(**values: Any) -> TaskRow:
    fields = {"status": "running", "progress": 0.0, "message": None, "failure_message": None, **values}
    return cast(TaskRow, SimpleNamespace(**fields))


def test_every_task_status_has_a_run_state():
    assert {status.value: run_state(status.value) for status in TaskStatus} == {
        "queued": RunState.queued,
        "preparing": RunState.running,
        "running": RunState.running,
        "collecting": RunState.running,
        "completed": RunState.succeeded,
        "failed": RunState.failed,
        "cancelled": RunState.failed,
    }


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_progress_is_a_whole_percent_within_bounds(value):
    progress = run_progress(row(progress=value))
    assert isinstance(progress, int)
    assert 0 <= progress <= 100
    if math.isfinite(value) and 0 <= value <= 100:
        assert progress == math.floor(value)


def test_a_completed_run_reads_100():
    assert run_progress(row(status="completed", progress=97.0)) == 100
    assert run_progress(row(status="running", progress=99.99)) == 99


def test_messages_say_why_a_run_ended():
    assert run_message(row(message="step 3/10")) == "step 3/10"
    assert run_message(row(status="failed", message="Failed", failure_message="exit code 1")) == "exit code 1"
    assert run_message(row(status="cancelled", message="Cancelled")) == "Cancelled"
    assert run_message(row(message=None)) is None
    long = run_message(row(message="x" * 5000))
    assert long is not None and len(long) == MAX_MESSAGE


@pytest.mark.parametrize(
    ("inputs", "seed"),
    [
        ({}, DEFAULT_RUN_SEED),
        ({"seed": 0}, 0),
        ({"seed": MAX_SEED}, MAX_SEED),
    ],
)
def test_the_run_seed(inputs, seed):
    assert run_seed(inputs) == seed


@pytest.mark.parametrize("seed", [MAX_SEED + 1, -5, True, 3.0, "3", None])
def test_a_seed_that_is_not_a_seed_is_refused_not_replaced(seed):
    with pytest.raises(Unprocessable) as refused:
        run_seed({"seed": seed})
    assert refused.value.details == {"field": "inputs.seed"}


def test_a_run_is_a_model_task_with_a_fixed_seed():
    task = run_task("simulator", {"region": "NA", "trials": 100})
    assert task.job_name == "simulator-run"
    assert task.model_id is not None and task.model_id.root == "simulator"
    assert task.inputs is not None and task.inputs.root == {"region": "NA", "trials": 100}
    assert task.random_seed == DEFAULT_RUN_SEED
    assert task.entrypoint is None
    seeded = run_task("simulator", {"trials": 100, "seed": 9})
    assert seeded.random_seed == 9
    assert seeded.inputs is not None and seeded.inputs.root == {"trials": 100}


def test_a_long_model_id_still_makes_a_valid_job_name():
    task = run_task("m" * 64, {})
    assert task.job_name == "m" * 60 + "-run"
