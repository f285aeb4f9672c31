"""Operations of the Tasks tag."""

from __future__ import annotations

from typing import Any

from generated.models import TaskCreate, TaskRetry
from handlers import presenters
from handlers.context import header, principal, services
from runplane.validation import parse_request

Answer = tuple[dict[str, Any], int]


async def create_task(body: dict[str, Any], token_info: dict[str, Any]) -> Answer:
    manager = services().tasks
    row = await manager.submit(
        principal(token_info), parse_request(TaskCreate, body), idempotency_key=header("Idempotency-Key")
    )
    return presenters.dump(presenters.task(row, manager)), 201


async def list_tasks(
    token_info: dict[str, Any],
    limit: int = 50,
    offset: int = 0,
    status: str | None = None,
    user_id: str | None = None,
    experiment_id: str | None = None,
    model_id: str | None = None,
    sweep_id: str | None = None,
) -> Answer:
    manager = services().tasks
    rows, total = await manager.page(
        principal(token_info),
        status=status,
        user_id=user_id,
        experiment_id=experiment_id,
        model_id=model_id,
        sweep_id=sweep_id,
        limit=limit,
        offset=offset,
    )
    return presenters.dump(presenters.task_list(rows, total, limit, offset, manager)), 200


async def get_task(task_id: str, token_info: dict[str, Any]) -> Answer:
    manager = services().tasks
    row = await manager.visible(principal(token_info), task_id)
    parts = await services().workers.gangs.parts(row) if row.node_count > 1 else []
    return presenters.dump(presenters.task(row, manager, parts)), 200


async def get_task_status(task_id: str, token_info: dict[str, Any]) -> Answer:
    found = services()
    row = await found.tasks.visible(principal(token_info), task_id)
    parts = await found.workers.gangs.parts(row) if row.node_count > 1 else []
    return presenters.dump(presenters.task_status(row, parts)), 200


async def cancel_task(task_id: str, token_info: dict[str, Any]) -> tuple[None, int]:
    stopping = await services().tasks.cancel(principal(token_info), task_id)
    return None, 202 if stopping else 204


async def retry_task(task_id: str, token_info: dict[str, Any], body: dict[str, Any] | None = None) -> Answer:
    manager = services().tasks
    request = parse_request(TaskRetry, body or {})
    row = await manager.retry(principal(token_info), task_id, secrets=dict(request.secrets or {}))
    return presenters.dump(presenters.task(row, manager)), 200
