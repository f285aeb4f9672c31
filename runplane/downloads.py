"""Serving stored files: Starlette's FileResponse, with Range decided here so errors keep the uniform body.

Starlette's FileResponse honours ``Range`` itself, but answers a bad or unsatisfiable one with a plain-text
400/416, and several ranges with ``multipart/byteranges``. So the Range header is read here first:

- one satisfiable ``bytes`` range → 206 with exactly those bytes (Starlette's single-range path);
- a range that starts past the end (or ``bytes=-0``) → :class:`RangeNotSatisfiable` (416, uniform body,
  ``Content-Range: bytes */size``);
- an invalid Range header (malformed ``bytes`` syntax, ``bytes=5-2`` with the last position before the
  first), another unit, several ranges, or an ``If-Range`` that no longer matches → the whole file (200):
  RFC 9110 §14.2 lets a server ignore a Range header it cannot or will not use, and a client that sent
  one must be ready for a 200, whereas a 400 would fail a download that could have succeeded.

The response then sees only the range decided here (or none), never the client's raw header.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from starlette.responses import FileResponse
from starlette.types import Receive, Scope, Send

from runplane.errors import RangeNotSatisfiable

_DIGITS = re.compile(r"[0-9]*")
_MAX_HEADER_IN_DETAILS = 64

# Downloads are files a task wrote: never let a browser render or sniff them in our origin.
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive byte range ``(first, last)`` a Range header asks of a ``size``-byte file, or None
    when the whole file should be sent instead: for an invalid header (RFC 9110 §14.2 ignores it), another
    unit or several ranges. Raises `RangeNotSatisfiable` (416) for a valid range the file cannot satisfy."""
    unit, equals, spec = header.partition("=")
    if not equals:
        return None
    if unit.strip().lower() != "bytes":
        return None
    parts = spec.split(",")
    if len(parts) != 1:
        return None
    first_text, dash, last_text = parts[0].strip().partition("-")
    first_text, last_text = first_text.strip(), last_text.strip()
    if (
        not dash
        or not _DIGITS.fullmatch(first_text)
        or not _DIGITS.fullmatch(last_text)
        or not (first_text or last_text)
    ):
        return None
    if not first_text:  # a suffix: the last N bytes
        length = int(last_text)
        if length == 0 or size == 0:
            raise _unsatisfiable(header, size)
        return max(size - length, 0), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last_text and last < first:
        return None  # an invalid byte-range-spec (RFC 9110 §14.1.1): ignored like any invalid header
    if first >= size:
        raise _unsatisfiable(header, size)
    return first, min(last, size - 1)


def _unsatisfiable(header: str, size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"Range not satisfiable: the file has {size} bytes",
        details={"size": size, "range": header[:_MAX_HEADER_IN_DETAILS]},
        headers={"Content-Range": f"bytes */{size}"},
    )


class _DecidedRangeFileResponse(FileResponse):
    """A FileResponse that sees the range decided by :func:`file_response`, not the request's own."""

    byte_range: tuple[int, int] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(name, value) for name, value in scope["headers"] if name not in (b"range", b"if-range")]
        if self.byte_range is not None:
            first, last = self.byte_range
            headers.append((b"range", f"bytes={first}-{last}".encode()))
        await super().__call__({**scope, "headers": headers}, receive, send)


def file_response(
    path: Path,
    info: os.stat_result,
    *,
    media_type: str,
    filename: str | None,
    request_headers: Mapping[str, str],
    ranges: bool = True,
    headers: Mapping[str, str] | None = None,
) -> FileResponse:
    """The file as a response: 200, or 206 for one satisfiable range when ``ranges`` is on."""
    extra = dict(headers or {})
    if not ranges:
        extra["Accept-Ranges"] = "none"
    response = _DecidedRangeFileResponse(
        path, stat_result=info, media_type=media_type, filename=filename, headers=extra
    )
    range_header = request_headers.get("range")
    if ranges and range_header is not None:
        if_range = request_headers.get("if-range")
        current = (response.headers.get("etag"), response.headers.get("last-modified"))
        if if_range is None or if_range in current:
            response.byte_range = parse_range(range_header, info.st_size)
    return response
