"""CORS for the browser front ends of configured origins (``RUNPLANE_CORS_ORIGINS``).

Starlette's `CORSMiddleware` does the work: it answers a preflight (``OPTIONS`` with ``Origin`` and
``Access-Control-Request-Method``) itself, before any key check, and adds ``Access-Control-Allow-Origin``
to every answer to an allowed origin, error answers included (it sits outside the error and rate-limit
layers, see `runplane.middleware`), so a page reads our JSON errors too. No cookies are involved (keys
travel in ``X-API-Key``), so credentials stay disallowed. The one change: a refused preflight gets the
uniform error body (`runplane.errors`) instead of Starlette's plain text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from runplane.errors import for_status
from runplane.tracing import current_trace_id

ALLOWED_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")
# What our operations read from a browser's request beyond the CORS-safelisted headers.
ALLOWED_HEADERS: Final = ("X-API-Key", "Idempotency-Key", "Content-Type", "Last-Event-ID", "Range")
# What a page may read from our answers beyond the safelisted ones.
EXPOSED_HEADERS: Final = (
    "X-Trace-Id",
    "Location",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Content-Range",
    "Accept-Ranges",
)
PREFLIGHT_MAX_AGE_SECONDS: Final = 600


class ApiCorsMiddleware(CORSMiddleware):
    """Starlette's CORSMiddleware for `origins` (``*`` allows any), with uniform error bodies."""

    def __init__(self, app: ASGIApp, *, origins: Sequence[str]) -> None:
        super().__init__(
            app,
            allow_origins=list(origins),
            allow_methods=list(ALLOWED_METHODS),
            allow_headers=list(ALLOWED_HEADERS),
            expose_headers=list(EXPOSED_HEADERS),
            allow_credentials=False,
            max_age=PREFLIGHT_MAX_AGE_SECONDS,
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        # Starlette says which part failed ("Disallowed CORS origin, method"); keep that as the message.
        reason = bytes(response.body).decode("utf-8", "replace")
        error = for_status(
            400,
            reason,
            origin=request_headers.get("origin", ""),
            method=request_headers.get("access-control-request-method", ""),
        )
        trace_id = current_trace_id.get()
        headers = {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}
        headers["X-Trace-Id"] = trace_id
        return Response(
            error.render(trace_id), status_code=400, media_type="application/json", headers=headers
        )
