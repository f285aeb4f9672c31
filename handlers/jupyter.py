"""Operations of the Jupyter tag."""

from __future__ import annotations

from typing import Any

from generated import models
from handlers import presenters
from handlers.context import principal, services
from runplane.jupyter import JupyterManager, may_see_token, service_status, token_of
from runplane.security import Principal
from runplane.store.tables import TaskRow

Answer = tuple[dict[str, Any], int]


def _manager() -> JupyterManager:
    return JupyterManager(services().tasks)


def _service(row: TaskRow, token: str | None) -> models.JupyterService:
    status = service_status(row)
    return models.JupyterService.model_validate(
        {
            "id": row.id,
            "task_id": row.id,
            "name": row.job_name,
            "user_id": row.user_id,
            "status": status,
            "url": row.service_url if status == "running" else None,
            "token": token,
            "snapshot_id": row.snapshot_id,
            "cpu": row.cpu,
            "memory_gb": row.memory_gb,
            "gpu": row.gpu,
            "message": row.message,
            "created_at": row.created_at,
            "started_at": row.started_at,
            "stopped_at": row.ended_at,
        }
    )


def _one(caller: Principal, row: TaskRow) -> dict[str, Any]:
    return presenters.dump(_service(row, token_of(row) if may_see_token(caller, row) else None))


async def list_jupyter_services(token_info: dict[str, Any], limit: int = 50, offset: int = 0) -> Answer:
    rows, total = await _manager().page(principal(token_info), limit=limit, offset=offset)
    # A list never carries tokens, even the caller's own: they go out one service at a time.
    listing = models.JupyterServiceList(
        services=[_service(row, None) for row in rows], total=total, limit=limit, offset=offset
    )
    return presenters.dump(listing), 200


async def start_jupyter_service(body: dict[str, Any], token_info: dict[str, Any]) -> Answer:
    caller = principal(token_info)
    row = await _manager().start(caller, models.JupyterServiceCreate.model_validate(body))
    return _one(caller, row), 201


async def get_jupyter_service(service_id: str, token_info: dict[str, Any]) -> Answer:
    caller = principal(token_info)
    return _one(caller, await _manager().visible(caller, service_id)), 200


async def stop_jupyter_service(service_id: str, token_info: dict[str, Any]) -> Answer:
    caller = principal(token_info)
    row, stopping = await _manager().stop(caller, service_id)
    return _one(caller, row), 202 if stopping else 200
