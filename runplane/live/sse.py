"""Server-Sent Events: the scheduler stream and one task's stream, resumable with `Last-Event-ID`.

Each event is ``id: <id>`` / ``event: <topic>`` / ``data: <StreamEvent JSON>``; an idle stream gets a
``: keep-alive`` comment every `sse_keepalive_seconds`. A resumed stream subscribes to the hub first,
replays the stored events after the client's id up to the hub's cursor at that moment, then goes on
with the live events, skipping any at or below the last id it sent, so nothing is lost or repeated at the
seam. A client too slow for its queue gets a ``: dropped`` comment and the stream ends; EventSource
reconnects with its Last-Event-ID and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from runplane import events
from runplane.live.hub import Dropped, EventHub, LiveEvent, Subscription
from runplane.security import Principal

logger = logging.getLogger("runplane.live")

MEDIA_TYPE: Final = "text/event-stream"
HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
RETRY_MS: Final = 2000
KEEPALIVE: Final = ": keep-alive\n\n"
MAX_EVENT_ID: Final = 2**63 - 1


def parse_last_event_id(value: str | None) -> int | None:
    """The `Last-Event-ID` header as an id (the contract allows digits only); None when absent."""
    if value is None or not value.strip().isdigit():
        return None
    return min(int(value.strip()), MAX_EVENT_ID)


@dataclass
class Watch:
    """Shows the response the subscription its stream makes, so that a client the hub dropped (too slow:
    its writes are stuck) is disconnected at once rather than when its socket drains."""

    sub: Subscription | None = None
    attached: asyncio.Event = field(default_factory=asyncio.Event)

    def attach(self, sub: Subscription) -> None:
        self.sub = sub
        self.attached.set()

    async def dropped(self) -> None:
        """Returns once the hub has dropped the subscription (never for a normal end)."""
        await self.attached.wait()
        assert self.sub is not None
        await self.sub.closed.wait()
        if self.sub.code == 1000:  # unsubscribed: the stream ended by itself
            await asyncio.Event().wait()


class EventStreamResponse(StreamingResponse):
    """A long-lived streamed answer (text/event-stream unless told otherwise) that stops, and releases its
    subscription, as soon as the client goes, the hub drops it (``watch``) or ``revoked`` returns.

    ``revoked`` is `runplane.security.wait_until_revoked` for the caller's key: its end closes the stream
    with ``revoked_note`` as the last bytes (an SSE comment by default), so a revoked key stops receiving
    data on streams it already holds. The followed log (`handlers.results`) uses it with its own media
    type.
    """

    def __init__(
        self,
        content: AsyncIterator[str] | AsyncIterator[bytes],
        watch: Watch | None = None,
        *,
        revoked: Callable[[], Awaitable[None]] | None = None,
        media_type: str = MEDIA_TYPE,
        headers: dict[str, str] | None = None,
        revoked_note: str = ": closed: the API key was revoked\n\n",
    ) -> None:
        super().__init__(content, media_type=media_type, headers=HEADERS if headers is None else headers)
        self._stream = content
        self._watch = watch
        self._revoked = revoked
        self._revoked_note = revoked_note

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        revoked = False
        try:
            if scope.get("method") == "HEAD":  # the headers only: a stream never ends by itself
                await send(
                    {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
                )
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            async with anyio.create_task_group() as group:

                async def stream() -> None:
                    with contextlib.suppress(OSError):  # the client went away in the middle of a write
                        await self.stream_response(send)
                    group.cancel_scope.cancel()

                async def watch(watch: Watch) -> None:
                    await watch.dropped()
                    group.cancel_scope.cancel()

                async def key_check(revoked_key: Callable[[], Awaitable[None]]) -> None:
                    nonlocal revoked
                    await revoked_key()
                    revoked = True
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                if self._watch is not None:
                    group.start_soon(watch, self._watch)
                if self._revoked is not None:
                    group.start_soon(key_check, self._revoked)
                await self.listen_for_disconnect(receive)
                group.cancel_scope.cancel()
            if revoked:  # end the answer properly: the client sees the stream end, not a broken one
                with contextlib.suppress(Exception):
                    note = self._revoked_note.encode()
                    await send({"type": "http.response.body", "body": note, "more_body": False})
        finally:
            aclose = getattr(self._stream, "aclose", None)
            if aclose is not None:
                await aclose()


async def _live(sub: Subscription, keepalive: float, lifetime: float) -> AsyncIterator[LiveEvent | None]:
    """The subscription's events as they come; None after each `keepalive` seconds without one.

    A stream lives at most `lifetime` seconds: then it ends and EventSource reconnects with its
    Last-Event-ID, losing nothing. Bounded streams let a load balancer spread long-lived clients over
    processes again, and keep a forgotten client from holding a connection for ever.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + lifetime
    while (remaining := deadline - loop.time()) > 0:  # or until the client goes, or the hub drops it
        try:
            async with asyncio.timeout(min(keepalive, remaining)):
                item = await sub.next()
        except TimeoutError:
            if loop.time() < deadline:
                yield None
            continue
        if isinstance(item, LiveEvent):
            yield item


async def status_stream(
    hub: EventHub,
    principal: Principal,
    *,
    last_event_id: int | None,
    keepalive: float,
    lifetime: float,
    watch: Watch,
) -> AsyncIterator[str]:
    """`/v1/scheduler/status/stream`: every event `principal` may see, from now or after its last id."""
    await hub.catch_up()
    with hub.subscription(principal, "sse") as sub:
        watch.attach(sub)
        yield f"retry: {RETRY_MS}\n\n"
        last = sub.after if last_event_id is None else last_event_id
        if last_event_id is not None:
            async for event in hub.replay(principal, after=last_event_id, upto=sub.after):
                yield event.sse()
                last = max(last, event.id)
        try:
            async for live in _live(sub, keepalive, lifetime):
                if live is None:
                    yield KEEPALIVE
                elif live.id > last:
                    yield live.sse()
                    last = live.id
        except Dropped as dropped:
            yield f": dropped: {dropped.reason}; reconnect with Last-Event-ID\n\n"


async def job_stream(
    hub: EventHub,
    principal: Principal,
    task_id: str,
    *,
    last_event_id: int | None,
    keepalive: float,
    lifetime: float,
    finished: bool,
    is_finished: Callable[[], Awaitable[bool]],
    watch: Watch,
) -> AsyncIterator[str]:
    """`/v1/scheduler/jobs/{id}/stream`: the task's events from its start (or after the client's last id),
    ending after `task_complete`. `finished`: the task had ended when the request came (replay, end);
    `is_finished` is asked on idle ticks, in case its end never arrives live (pruned, or passed as a gap).
    """
    yield f"retry: {RETRY_MS}\n\n"
    last = last_event_id or 0
    if finished:
        async for event in hub.replay(principal, after=last, upto=None, task_id=task_id):
            yield event.sse()
        return
    await hub.catch_up()
    with hub.subscription(principal, "sse", task_id=task_id) as sub:
        watch.attach(sub)
        async for event in hub.replay(principal, after=last, upto=sub.after, task_id=task_id):
            yield event.sse()
            last = event.id
            if event.topic == events.TASK_COMPLETE:
                return
        try:
            async for live in _live(sub, keepalive, lifetime):
                if live is None:
                    if await _ended(is_finished):
                        async for rest in hub.replay(principal, after=last, upto=None, task_id=task_id):
                            yield rest.sse()
                        return
                    yield KEEPALIVE
                elif live.id > last:
                    yield live.sse()
                    last = live.id
                    if live.topic == events.TASK_COMPLETE:
                        return
        except Dropped as dropped:
            yield f": dropped: {dropped.reason}; reconnect with Last-Event-ID\n\n"


async def _ended(is_finished: Callable[[], Awaitable[bool]]) -> bool:
    try:
        return await is_finished()
    except Exception:
        logger.warning("could not read a streamed task's status", exc_info=True)
        return False
