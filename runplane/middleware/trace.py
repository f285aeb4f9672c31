"""Gives each request a trace id, available through `runplane.tracing.current_trace_id`."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runplane.middleware.headers import header
from runplane.tracing import TRACE_HEADER, current_trace_id, new_trace_id

_TRACE_HEADER_NAME = TRACE_HEADER.lower().encode("latin-1")


class TraceMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        trace_id = new_trace_id(header(scope, _TRACE_HEADER_NAME))
        token = current_trace_id.set(trace_id)
        scope.setdefault("state", {})["trace_id"] = trace_id

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[TRACE_HEADER] = trace_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        finally:
            current_trace_id.reset(token)
