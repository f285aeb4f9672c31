"""Operations of the live streams: the two SSE streams and the plain-HTTP face of `/ws`.

The work is in `runplane.live`; here the request is checked (tenancy, readiness) before the stream
starts, so every refusal is the uniform error body rather than a broken stream.
"""

from __future__ import annotations

from typing import Any, NoReturn

from handlers.context import header, principal, services
from runplane.errors import ServiceUnavailable, UpgradeRequired
from runplane.live import sse
from runplane.live.hub import EventHub
from runplane.security import wait_until_revoked
from runplane.services import Services
from runplane.store.tasks import TERMINAL


def _hub(found: Services) -> EventHub:
    hub = found.hub
    if hub is None or not hub.ready:
        raise ServiceUnavailable("Live events are not available yet", headers={"Retry-After": "2"})
    return hub


async def stream_scheduler_status(token_info: dict[str, Any]) -> sse.EventStreamResponse:
    found = services()
    caller = principal(token_info)
    hub = _hub(found)
    watch = sse.Watch()
    stream = sse.status_stream(
        hub,
        caller,
        last_event_id=sse.parse_last_event_id(header("Last-Event-ID")),
        keepalive=found.settings.sse_keepalive_seconds,
        lifetime=found.settings.stream_max_seconds,
        watch=watch,
    )
    return sse.EventStreamResponse(stream, watch, revoked=lambda: wait_until_revoked(found, caller))


async def stream_job(job_id: str, token_info: dict[str, Any]) -> sse.EventStreamResponse:
    found = services()
    caller = principal(token_info)
    row = await found.tasks.visible(caller, job_id)  # 404 for unknown tasks and other users' tasks
    hub = _hub(found)
    watch = sse.Watch()

    async def is_finished() -> bool:
        return (await found.tasks.visible(caller, job_id)).status in TERMINAL

    stream = sse.job_stream(
        hub,
        caller,
        row.id,
        last_event_id=sse.parse_last_event_id(header("Last-Event-ID")),
        keepalive=found.settings.sse_keepalive_seconds,
        lifetime=found.settings.stream_max_seconds,
        finished=row.status in TERMINAL,
        is_finished=is_finished,
        watch=watch,
    )
    return sse.EventStreamResponse(stream, watch, revoked=lambda: wait_until_revoked(found, caller))


async def connect_websocket() -> NoReturn:
    raise UpgradeRequired(
        "Use a WebSocket to connect here", headers={"Upgrade": "websocket", "Connection": "Upgrade"}
    )
