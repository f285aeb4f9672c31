"""Operations of the Scheduler tag."""

from __future__ import annotations

from typing import Any

from generated import models
from handlers import presenters
from handlers.context import principal, services
from runplane.store.tables import utcnow

Answer = tuple[dict[str, Any], int]


async def get_queue(token_info: dict[str, Any]) -> Answer:
    counts = await services().tasks.queue_counts()
    stats = models.QueueStats.model_validate({**counts, "workers": 0, "timestamp": utcnow()})
    return presenters.dump(stats), 200


async def update_job_priority(job_id: str, body: dict[str, Any], token_info: dict[str, Any]) -> Answer:
    manager = services().tasks
    update = models.PriorityUpdate.model_validate(body)
    row = await manager.set_priority(principal(token_info), job_id, update.priority)
    return presenters.dump(presenters.task(row, manager)), 200
