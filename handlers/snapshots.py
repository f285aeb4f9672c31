"""Operations of the Snapshots tag."""

from __future__ import annotations

from typing import Any

from connexion import request
from starlette.responses import Response

from handlers import presenters
from handlers.context import principal, services
from runplane.downloads import file_response

Answer = tuple[dict[str, Any], int]


async def upload_snapshot(token_info: dict[str, Any]) -> Answer:
    # No `body` parameter: connexion then leaves the request body unread, and it is streamed to disk here.
    row = await services().snapshots.upload(principal(token_info), request.stream())
    return presenters.dump(presenters.snapshot(row)), 201


async def get_snapshot(snapshot_id: str, token_info: dict[str, Any]) -> Answer:
    row = await services().snapshots.visible(principal(token_info), snapshot_id)
    return presenters.dump(presenters.snapshot(row)), 200


async def download_snapshot(snapshot_id: str, token_info: dict[str, Any]) -> Response:
    svc = services()
    found = await svc.snapshots.content(principal(token_info), snapshot_id)
    await svc.audit.file_access(
        f"snapshot/{found.row.id}",
        metadata={
            "snapshot_id": found.row.id,
            "owner": found.row.user_id,
            "size": found.row.size,
            "sha256": found.row.sha256,
        },
    )
    return file_response(
        found.path,
        found.stat,
        media_type="application/gzip",
        filename=f"{found.row.id}.tar.gz",
        request_headers=request.headers,
        ranges=False,
    )
