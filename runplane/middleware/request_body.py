"""Request bodies: a case-insensitive media type, reading bounded in time, and hang-ups told apart.

- The media type of `Content-Type` is case-insensitive (RFC 9110, 8.3.1): it is lower-cased here, so
  `Application/JSON` reaches connexion as `application/json` (its parameters are kept as sent).
- Whoever reads the body (connexion's validation, once the key is known; an upload's handler) reads it
  through a bounded `receive`: a JSON body must arrive whole within ``timeout_seconds`` of the first
  read, and an upload (``raw_routes``) may pause no longer than that between two chunks. Past it the
  reader gets `RequestTimeout`, which the error table answers 408. A body nobody reads (a request
  refused before, e.g. 401) costs nothing.
- A client that hangs up while its body is being read raises `ClientDisconnect` in the reader: logged as
  a warning and recorded as status 499, never as a server error (`runplane.errors`).
- The JSON itself is checked against the server limits by connexion's body validator
  (`runplane.validation.ServerLimitsJSONBodyValidator`); this layer marks the operations whose strings
  may hold NUL (``allow_nul_routes``: task log lines, stored as the task wrote them).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runplane.errors import RequestTimeout
from runplane.validation import ALLOW_NUL_SCOPE_KEY


def normalized_content_type(value: bytes) -> bytes:
    """`value` with its media type (the part before any ``;``) lower-cased and trimmed."""
    media_type, separator, parameters = value.partition(b";")
    return media_type.strip().lower() + separator + parameters


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding":
            return True
    return False


class RequestBodyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        timeout_seconds: float,
        raw_routes: Sequence[tuple[str, re.Pattern[str]]] = (),
        allow_nul_routes: Sequence[tuple[str, re.Pattern[str]]] = (),
    ) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds
        self.raw_routes = tuple((method.upper(), pattern) for method, pattern in raw_routes)
        self.allow_nul_routes = tuple((method.upper(), pattern) for method, pattern in allow_nul_routes)

    @staticmethod
    def _matches(routes: Sequence[tuple[str, re.Pattern[str]]], scope: Scope) -> bool:
        return any(scope["method"] == method and pattern.match(scope["path"]) for method, pattern in routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope["headers"]):
            await self.app(scope, receive, send)
            return
        headers = [
            (name, normalized_content_type(value) if name == b"content-type" else value)
            for name, value in scope["headers"]
        ]
        # A new scope of this request's own (``state`` may be shared: ASGI lifespan state is copied shallowly).
        scope = {
            **scope,
            "headers": headers,
            ALLOW_NUL_SCOPE_KEY: self._matches(self.allow_nul_routes, scope),
        }
        await self.app(scope, self._bounded(receive, idle=self._matches(self.raw_routes, scope)), send)

    def _bounded(self, receive: Receive, *, idle: bool) -> Receive:
        """`receive` with the time limit: from the first read to the last (JSON) or between reads (idle)."""
        deadline: float | None = None
        done = False

        async def bounded_receive() -> Message:
            nonlocal deadline, done
            if done:  # after the body: the disconnect, awaited by streaming answers for as long as they run
                return await receive()
            loop = asyncio.get_running_loop()
            if idle or deadline is None:
                deadline = loop.time() + self.timeout_seconds
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                done = True
                raise RequestTimeout(
                    f"The request body did not arrive within {self.timeout_seconds:g} seconds",
                    details={"timeout_seconds": self.timeout_seconds},
                ) from None
            if message["type"] == "http.disconnect":
                done = True
                raise ClientDisconnect()
            if not message.get("more_body", False):
                done = True
            return message

        return bounded_receive
