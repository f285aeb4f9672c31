"""Counts every HTTP request and its duration, labelled by the contract's operationId.

connexion routes deeper in the chain and writes the operationId into ``scope["extensions"]``; it works
on a shallow copy of the scope, so this middleware creates the ``extensions`` dict first and the copy
shares it. Requests connexion never routed (unknown paths, /redoc, /static, refusals made before
routing) are labelled `runplane.metrics.UNROUTED`: the raw path is never a label.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runplane.errors import describe
from runplane.metrics import record_request


def _operation(extensions: dict[str, Any]) -> str | None:
    routing = extensions.get("connexion_routing")
    operation_id = routing.get("operation_id") if routing else None
    return operation_id.rsplit(".", 1)[-1] if operation_id else None


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        extensions: dict[str, Any] = scope.setdefault("extensions", {})
        status = 500
        responded = False

        async def recording_send(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status = message["status"]
                responded = True
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        except Exception as exc:
            if not responded:
                status = describe(exc).status  # what ErrorMiddleware will answer
            raise
        finally:
            record_request(_operation(extensions), scope["method"], status, time.perf_counter() - started)
