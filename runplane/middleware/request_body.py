"""Reads request bodies in bounded time and checks every JSON body once against the server limits.

- The media type of `Content-Type` is case-insensitive (RFC 9110, 8.3.1): it is lower-cased here, so
  `Application/JSON` reaches connexion as `application/json` (its parameters are kept as sent).
- A JSON body (``application/json`` or ``+json``) is read whole, within ``timeout_seconds`` from its first
  byte awaited to its last, then checked by `runplane.validation.check_json_body` (no NUL, no lone
  surrogate, bounded integers and nesting) and handed on unchanged. A refused body is answered 400 here,
  naming the field; one that does not arrive in time 408. Task log batches (``allow_nul_routes``) may
  carry NUL: a task's output is stored as written.
- Any other body (file uploads, by ``raw_routes`` or by media type) streams through; it may pause no
  longer than ``timeout_seconds`` between two chunks, or the request ends with 408.
- A client that hangs up while sending is logged as such (a warning) and recorded as status 499, never as
  a server error.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runplane.errors import CLIENT_CLOSED_REQUEST, ApiError, RequestTimeout, describe
from runplane.middleware.responses import send_error
from runplane.validation import JsonBodyProblem, check_json_body

logger = logging.getLogger("runplane.errors")

DISCONNECTED_STATE_KEY = "client_disconnected"
"""Set (True) in ``scope["state"]`` when the client hung up before the request body arrived."""


def normalized_content_type(value: bytes) -> bytes:
    """`value` with its media type (the part before any ``;``) lower-cased and trimmed."""
    media_type, separator, parameters = value.partition(b";")
    return media_type.strip().lower() + separator + parameters


def is_json(content_type: bytes) -> bool:
    media_type = content_type.partition(b";")[0]
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding":
            return True
    return False


class _Disconnected(Exception):
    pass


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

    def _timed_out(self) -> RequestTimeout:
        return RequestTimeout(
            f"The request body did not arrive within {self.timeout_seconds:g} seconds",
            details={"timeout_seconds": self.timeout_seconds},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope["headers"]):
            await self.app(scope, receive, send)
            return
        content_type = b""
        headers = []
        for name, value in scope["headers"]:
            if name == b"content-type":
                value = content_type = normalized_content_type(value)
            headers.append((name, value))
        scope = {**scope, "headers": headers}
        if is_json(content_type) and not self._matches(self.raw_routes, scope):
            await self._json(scope, receive, send)
        else:
            await self.app(scope, self._paced(scope, receive), send)

    async def _json(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        try:
            async with asyncio.timeout(self.timeout_seconds):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise _Disconnected()
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await send_error(send, describe(self._timed_out()))
            return
        except _Disconnected:
            self._disconnected(scope)
            return
        except ApiError as exc:  # the size limit, raised by the body-limit layer's receive
            await send_error(send, describe(exc))
            return
        body = b"".join(chunks)
        try:
            check_json_body(body, allow_nul=self._matches(self.allow_nul_routes, scope))
        except JsonBodyProblem as problem:
            await send_error(send, describe(problem))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the disconnect, for streaming answers

        await self.app(scope, replay, send)

    def _paced(self, scope: Scope, receive: Receive) -> Receive:
        done = False

        async def paced_receive() -> Message:
            nonlocal done
            if done:
                return await receive()
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    message = await receive()
            except TimeoutError:
                raise self._timed_out() from None
            if message["type"] == "http.disconnect":
                scope.setdefault("state", {})[DISCONNECTED_STATE_KEY] = True
            if message["type"] != "http.request" or not message.get("more_body", False):
                done = True
            return message

        return paced_receive

    @staticmethod
    def _disconnected(scope: Scope) -> None:
        scope.setdefault("state", {})[DISCONNECTED_STATE_KEY] = True
        logger.warning(
            "client disconnected while sending %s %s (recorded as %s)",
            scope["method"],
            scope["path"],
            CLIENT_CLOSED_REQUEST,
        )
