"""The Model Runner Dashboard API (seed 002) on top of tasks: its status words, progress and run requests.

A Model Runner run *is* a task that runs a catalog model; its `run_id` is the task id. These are the few rules
that translate between the two vocabularies, kept here so handlers stay thin and tests can check them alone.

Seeds: the seed API has no seed field, so a run takes its random seed from the input `seed` (an integer in
the task's `random_seed` range; anything else is a 422, never silently replaced) and uses `DEFAULT_RUN_SEED`
without one. The task gets it as its `random_seed`, and its other inputs as they were given. Either way the
seed is fixed at submission, so the same inputs always give the same rows (the catalog derives its data
from the seed, the model and the scenario inputs `region` / `year`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from generated.models import RunState, TaskCreate
from runplane.catalog import ModelSpec, registry
from runplane.errors import Conflict, NotFound, Unprocessable
from runplane.lifecycle import RETRYABLE, TaskStatus
from runplane.security import Principal
from runplane.store.tables import TaskRow
from runplane.tasks import TaskManager

SEED_INPUT: Final = registry.SEED_KEY
MAX_SEED: Final = registry.MAX_SEED
DEFAULT_RUN_SEED: Final = registry.DEFAULT_RUN_SEED
JOB_NAME_SUFFIX: Final = "-run"
MAX_JOB_NAME: Final = 64
MAX_MESSAGE: Final = 1024

# Our task statuses in the seed's four words. A cancelled run reads `failed` (the seed has no other end).
RUN_STATES: Final[dict[str, RunState]] = {
    TaskStatus.queued: RunState.queued,
    TaskStatus.preparing: RunState.running,
    TaskStatus.running: RunState.running,
    TaskStatus.collecting: RunState.running,
    TaskStatus.completed: RunState.succeeded,
    TaskStatus.failed: RunState.failed,
    TaskStatus.cancelled: RunState.failed,
}


def run_state(task_status: str) -> RunState:
    return RUN_STATES[task_status]


def run_progress(row: TaskRow) -> int:
    """Whole percent, rounded down, within 0..100; a completed run reads 100."""
    if row.status == TaskStatus.completed:
        return 100
    value = row.progress if math.isfinite(row.progress) else 0.0
    return min(max(math.floor(value), 0), 100)


def run_message(row: TaskRow) -> str | None:
    """The task's status message; for a run that ended without success, why it ended."""
    message = row.message
    if row.status in RETRYABLE and row.failure_message:
        message = row.failure_message
    if message is not None and len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return message


def run_seed(inputs: Mapping[str, Any]) -> int:
    """The run's seed: `inputs.seed`, or DEFAULT_RUN_SEED without one; Unprocessable for any other value."""
    if SEED_INPUT not in inputs:
        return DEFAULT_RUN_SEED
    value = inputs[SEED_INPUT]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SEED:
        return value
    raise Unprocessable(
        f"Invalid input 'seed': must be an integer 0..{MAX_SEED}",
        details={"field": f"inputs.{SEED_INPUT}"},
    )


def run_inputs(spec: ModelSpec) -> list[dict[str, object]]:
    """What /api/models says a run reads: the catalog's inputs of the model, the same list /v1/models
    shows and /v1/tasks and /v1/sweeps accept (`seed` among them)."""
    return spec.inputs()


def run_task(model_id: str, inputs: Mapping[str, Any]) -> TaskCreate:
    """The task a Model Runner run submits: the catalog model, the inputs but `seed`, and the run's seed.

    Raises Unprocessable for a `seed` that is not a valid seed.
    """
    job_name = model_id[: MAX_JOB_NAME - len(JOB_NAME_SUFFIX)] + JOB_NAME_SUFFIX
    model_inputs = {name: value for name, value in inputs.items() if name != SEED_INPUT}
    return TaskCreate.model_validate(
        {"job_name": job_name, "model_id": model_id, "inputs": model_inputs, "random_seed": run_seed(inputs)}
    )


async def visible_run(tasks: TaskManager, principal: Principal, run_id: str) -> TaskRow:
    """The caller's run: a task that runs a catalog model. Anything else, or another user's run, is 404."""
    try:
        row = await tasks.visible(principal, run_id)
    except NotFound:
        row = None
    if row is None or row.model_id is None:
        raise NotFound("Run not found", details={"run_id": run_id})
    return row


def ensure_succeeded(row: TaskRow) -> None:
    """Results exist only for a run that succeeded; before that (or after a failure) the answer is 409."""
    if row.status != TaskStatus.completed:
        state = run_state(row.status)
        message = (
            "Run failed and has no results" if state is RunState.failed else "Run results are not ready yet"
        )
        raise Conflict(message, details={"run_id": row.id, "status": state.value})
