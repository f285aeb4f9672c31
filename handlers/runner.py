"""Operations of the Model Runner tag: the Model Runner Dashboard API (seed 002) in its own shapes.

A run is a task that runs a catalog model (run_id = task id); the translation rules are in
`runplane.runner_compat`.
"""

from __future__ import annotations

from typing import Any

from generated.models import RunCreate, RunCreated, RunnerModel, RunnerModelList, RunResults, RunStatus
from handlers import presenters
from handlers.context import principal, services
from runplane import runner_compat
from runplane.catalog import CATALOG, get_model
from runplane.errors import NotFound

Answer = tuple[dict[str, Any], int]


async def runner_list_models(token_info: dict[str, Any]) -> Answer:
    models = [
        RunnerModel.model_validate(
            {
                "id": spec.id,
                "name": spec.name,
                "params": spec.params,
                "inputs": runner_compat.run_inputs(spec),
            }
        )
        for spec in CATALOG.values()
    ]
    return presenters.dump(RunnerModelList(models=models)), 200


async def runner_create_run(body: dict[str, Any], token_info: dict[str, Any]) -> Answer:
    request = RunCreate.model_validate(body)
    model_id, inputs = request.model_id.root, request.inputs.root
    if get_model(model_id) is None:
        raise NotFound("Model not found", details={"model_id": model_id})
    row = await services().tasks.submit(principal(token_info), runner_compat.run_task(model_id, inputs))
    created = RunCreated(run_id=row.id, status=runner_compat.run_state(row.status))
    return presenters.dump(created), 201


async def runner_get_run_status(run_id: str, token_info: dict[str, Any]) -> Answer:
    row = await runner_compat.visible_run(services().tasks, principal(token_info), run_id)
    status = RunStatus.model_validate(
        {
            "run_id": row.id,
            "status": runner_compat.run_state(row.status),
            "progress": runner_compat.run_progress(row),
            "message": runner_compat.run_message(row),
            "started_at": row.started_at,
            "updated_at": row.updated_at,
        }
    )
    return presenters.dump(status), 200


async def runner_get_run_results(run_id: str, token_info: dict[str, Any]) -> Answer:
    row = await runner_compat.visible_run(services().tasks, principal(token_info), run_id)
    runner_compat.ensure_succeeded(row)
    found = await services().results.results(row)
    return presenters.dump(RunResults(run_id=row.id, summary=found.summary, rows=found.rows)), 200
