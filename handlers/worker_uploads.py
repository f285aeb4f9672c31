"""Operations of the Workers tag that carry a task's output: log lines and artifact files."""

from __future__ import annotations

from typing import Any

from connexion import request

from generated.models import LogBatch
from handlers import presenters
from handlers.context import principal, services

Answer = tuple[dict[str, Any], int]


async def append_task_logs(
    worker_id: str, task_id: str, body: dict[str, Any], token_info: dict[str, Any]
) -> tuple[None, int]:
    batch = LogBatch.model_validate(body)
    await services().uploads.append_logs(
        principal(token_info),
        worker_id,
        task_id,
        [line.text for line in batch.lines],
        attempt=batch.attempt,
        first_line=batch.first_line,
    )
    return None, 204


async def upload_task_artifact(
    worker_id: str, task_id: str, path: str, sha256: str, token_info: dict[str, Any]
) -> Answer:
    # No `body` parameter: connexion then leaves the request body unread, and it is streamed to disk here.
    row = await services().uploads.upload_artifact(
        principal(token_info), worker_id, task_id, path=path, sha256=sha256, chunks=request.stream()
    )
    return presenters.dump(presenters.artifact(row)), 201
