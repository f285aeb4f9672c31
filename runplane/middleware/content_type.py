"""Refuses a request body that does not say what it is (no Content-Type), or that is content-coded
(a ``Content-Encoding`` other than ``identity``, which nothing here decodes), with 415.

connexion validates such a body as if it were JSON but hands the handler its raw bytes, so a body
without a Content-Type would pass validation and then reach a handler in the wrong shape.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from runplane.errors import UnsupportedMediaType, describe
from runplane.middleware.headers import headers_named
from runplane.middleware.responses import send_error

_NAMES = (b"content-type", b"content-length", b"transfer-encoding", b"content-encoding")


def _has_body(headers: dict[bytes, str]) -> bool:
    length = headers.get(b"content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return b"transfer-encoding" in headers


def _coded(headers: dict[bytes, str]) -> bool:
    return headers.get(b"content-encoding", "identity").strip().lower() not in ("identity", "")


class ContentTypeMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = headers_named(scope, _NAMES)
            error = None
            if b"content-type" not in headers and _has_body(headers):
                error = UnsupportedMediaType(
                    "A request body needs a Content-Type header", details={"field": "Content-Type"}
                )
            elif _coded(headers) and _has_body(headers):
                # Nothing here decodes a content coding: RFC 9110 §15.5.16 answers 415, with
                # Accept-Encoding saying what would do; read as text it would be "not valid UTF-8".
                error = UnsupportedMediaType(
                    "Content-Encoding is not supported: send the request body unencoded (identity)",
                    details={"field": "Content-Encoding", "in": "header"},
                    headers={"Accept-Encoding": "identity"},
                )
            if error is not None:
                await send_error(send, describe(error))
                return
        await self.app(scope, receive, send)
