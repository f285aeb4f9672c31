"""The last line of defence: whatever escapes the layers below becomes the uniform error body."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runplane.errors import describe, log_error
from runplane.middleware.responses import send_error

logger = logging.getLogger("runplane.errors")


class ErrorMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            error = describe(exc)
            log_error(logger, error, exc, scope.get("method"), scope.get("path"))
            if started:
                # Headers are already on the wire; nothing valid can follow. Let the server close it.
                raise
            await send_error(send, error)
