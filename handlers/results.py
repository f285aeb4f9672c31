"""Operations of the Results tag: a task's log, artifacts, results and run identity."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from connexion import request
from starlette.responses import Response, StreamingResponse

from handlers import presenters
from handlers.context import principal, services
from runplane.downloads import DOWNLOAD_HEADERS, file_response
from runplane.live.sse import EventStreamResponse
from runplane.results import identity_document
from runplane.security import wait_until_revoked

Answer = tuple[dict[str, Any], int]

LOG_MEDIA_TYPE = "text/plain; charset=utf-8"
# A followed log is a long-lived answer: proxies must pass it through as it comes.
FOLLOW_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def get_task_logs(
    task_id: str,
    token_info: dict[str, Any],
    tail: int | None = None,
    follow: bool = False,
    attempt: int | None = None,
    rank: int = 0,
) -> Response:
    svc = services()
    caller = principal(token_info)
    row = await svc.tasks.visible(caller, task_id)
    body = svc.results.log(row, tail=tail, follow=follow, attempt=attempt, rank=rank)
    if not follow:
        return StreamingResponse(body, media_type=LOG_MEDIA_TYPE)
    # Followed for hours maybe: it ends when the caller's key is revoked.
    return EventStreamResponse(
        body,
        revoked=lambda: wait_until_revoked(svc, caller),
        media_type=LOG_MEDIA_TYPE,
        headers=FOLLOW_HEADERS,
        revoked_note="",
    )


async def list_task_artifacts(task_id: str, token_info: dict[str, Any], attempt: int | None = None) -> Answer:
    svc = services()
    row = await svc.tasks.visible(principal(token_info), task_id)
    rows = await svc.artifacts.list(row.id, svc.results.attempt_of(row, attempt))
    return presenters.dump(presenters.artifact_list(row.id, rows)), 200


async def download_task_artifact(
    task_id: str, artifact_path: str, token_info: dict[str, Any], attempt: int | None = None
) -> Response:
    svc = services()
    row = await svc.tasks.visible(principal(token_info), task_id)
    found = await svc.artifacts.locate(row.id, artifact_path, svc.results.attempt_of(row, attempt))
    await svc.audit.file_access(
        f"task/{row.id}/artifacts/{found.row.path}",
        metadata={
            "task_id": row.id,
            "owner": row.user_id,
            "path": found.row.path,
            "size": found.row.size,
            "sha256": found.row.sha256,
            "range": request.headers.get("range"),
        },
    )
    return file_response(
        found.path,
        found.stat,
        media_type=found.row.content_type,
        filename=PurePosixPath(found.row.path).name,
        request_headers=request.headers,
        headers=DOWNLOAD_HEADERS,
    )


async def get_task_results(task_id: str, token_info: dict[str, Any]) -> Answer:
    svc = services()
    row = await svc.tasks.visible(principal(token_info), task_id)
    return presenters.dump(await svc.results.results(row)), 200


async def get_task_run(task_id: str, token_info: dict[str, Any], attempt: int | None = None) -> Answer:
    svc = services()
    row = await svc.tasks.visible(principal(token_info), task_id)
    return identity_document(await svc.results.run_identity(row, attempt)), 200
