"""Sending a uniform error body from raw ASGI middleware (outside connexion's exception handling)."""

from __future__ import annotations

from starlette.types import Send

from runplane.errors import ErrorBody
from runplane.tracing import current_trace_id


async def send_error(send: Send, error: ErrorBody, extra_headers: dict[str, str] | None = None) -> None:
    trace_id = current_trace_id.get()
    body = error.render(trace_id)
    headers = {**error.headers, **(extra_headers or {})}
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-trace-id", trace_id.encode()),
        *((name.lower().encode(), value.encode()) for name, value in headers.items()),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
