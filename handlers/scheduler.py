"""Operations of the Scheduler tag."""

from __future__ import annotations

from typing import Any

from generated import models
from handlers import presenters
from handlers.context import principal, services
from runplane.store.tables import utcnow

Answer = tuple[dict[str, Any], int]


async def get_queue(token_info: dict[str, Any]) -> Answer:
    found = services()
    counts = await found.tasks.queue_counts()
    workers = (await found.workers.status_counts())["active"]
    stats = models.QueueStats.model_validate({**counts, "workers": workers, "timestamp": utcnow()})
    return presenters.dump(stats), 200


async def update_job_priority(job_id: str, body: dict[str, Any], token_info: dict[str, Any]) -> Answer:
    manager = services().tasks
    update = models.PriorityUpdate.model_validate(body)
    row = await manager.set_priority(principal(token_info), job_id, update.priority)
    return presenters.dump(presenters.task(row, manager)), 200


async def get_scheduler_status(token_info: dict[str, Any]) -> Answer:
    found = services()
    workers = await found.workers.status_counts()
    tasks = await found.tasks.queue_counts()
    return presenters.dump(presenters.scheduler_status(workers, tasks, utcnow())), 200


async def list_workers(
    token_info: dict[str, Any],
    limit: int = 50,
    offset: int = 0,
    status: str | None = None,
    include_replaced: bool = False,
) -> Answer:
    views, total = await services().workers.page(
        principal(token_info), status=status, limit=limit, offset=offset, include_replaced=include_replaced
    )
    return presenters.dump(presenters.worker_list(views, total, limit, offset)), 200


async def get_worker(worker_id: str, token_info: dict[str, Any]) -> Answer:
    view = await services().workers.view(principal(token_info), worker_id)
    return presenters.dump(presenters.worker(view)), 200


async def drain_worker(worker_id: str, token_info: dict[str, Any]) -> tuple[None, int]:
    await services().workers.drain(worker_id)
    return None, 204
