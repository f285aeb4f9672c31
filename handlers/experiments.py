"""Operations of the Experiments tag."""

from __future__ import annotations

from typing import Any

from generated import models
from handlers import presenters
from handlers.context import principal, services

Answer = tuple[dict[str, Any], int]


async def create_experiment(body: dict[str, Any], token_info: dict[str, Any]) -> Answer:
    request = models.ExperimentCreate.model_validate(body)
    row = await services().experiments.create(
        principal(token_info),
        name=request.name,
        description=request.description,
        commit_id=request.commit_id,
        metadata=request.metadata.model_dump(mode="json") if request.metadata else {},
    )
    return presenters.dump(presenters.experiment(row, 0)), 201


async def list_experiments(
    token_info: dict[str, Any], limit: int = 50, offset: int = 0, status: str | None = None
) -> Answer:
    manager = services().experiments
    rows, total = await manager.page(principal(token_info), status=status, limit=limit, offset=offset)
    counts = await manager.task_counts([row.id for row in rows])
    page = models.ExperimentList(
        experiments=[presenters.experiment(row, counts.get(row.id, 0)) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )
    return presenters.dump(page), 200


async def get_experiment(experiment_id: str, token_info: dict[str, Any]) -> Answer:
    manager = services().experiments
    row = await manager.visible(principal(token_info), experiment_id)
    counts = await manager.task_counts([row.id])
    return presenters.dump(presenters.experiment(row, counts.get(row.id, 0))), 200


async def update_experiment(experiment_id: str, body: dict[str, Any], token_info: dict[str, Any]) -> Answer:
    manager = services().experiments
    changes = models.ExperimentUpdate.model_validate(body).model_dump(mode="json", exclude_unset=True)
    row = await manager.update(principal(token_info), experiment_id, changes)
    counts = await manager.task_counts([row.id])
    return presenters.dump(presenters.experiment(row, counts.get(row.id, 0))), 200
