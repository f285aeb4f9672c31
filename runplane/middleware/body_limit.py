"""Refuses request bodies over the configured size with 413, whether or not Content-Length is honest.

JSON bodies get ``max_bytes``. The operations that carry files (snapshot and artifact uploads) are named
by ``upload_routes`` (method and path pattern) and get ``upload_max_bytes`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runplane.errors import PayloadTooLarge, describe
from runplane.middleware.headers import header
from runplane.middleware.responses import send_error


class BodyLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        exempt_prefixes: tuple[str, ...] = (),
        upload_max_bytes: int | None = None,
        upload_routes: Sequence[tuple[str, re.Pattern[str]]] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_prefixes = exempt_prefixes
        self.upload_max_bytes = upload_max_bytes if upload_max_bytes is not None else max_bytes
        self.upload_routes = tuple((method.upper(), pattern) for method, pattern in upload_routes)

    def limit_for(self, method: str, path: str) -> int:
        for route_method, pattern in self.upload_routes:
            if method == route_method and pattern.match(path):
                return self.upload_max_bytes
        return self.max_bytes

    @staticmethod
    def _too_large(limit: int) -> PayloadTooLarge:
        return PayloadTooLarge(f"Request body exceeds {limit} bytes", details={"limit_bytes": limit})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_error(send, describe(self._too_large(limit)))
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise self._too_large(limit)
            return message

        await self.app(scope, counting_receive, send)
