"""Request header look-ups on the raw ASGI scope, for middleware that runs on every request.

Starlette's `Headers(scope=scope)` builds an object and scans the list again for every `get`; the
middleware below it only needs one or two values, so it reads them straight from ``scope["headers"]``
(names there are lower-case bytes, as the ASGI spec says servers send them). Values are decoded as
Latin-1, exactly as `Headers` decodes them, and the first of repeated headers wins, as in `Headers.get`.
"""

from __future__ import annotations

from starlette.types import Scope


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of the request header `name` (lower-case bytes), or None when it is absent."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def headers_named(scope: Scope, names: tuple[bytes, ...]) -> dict[bytes, str]:
    """The first value of each of `names` (lower-case bytes) that the request has, in one pass."""
    found: dict[bytes, str] = {}
    for key, value in scope["headers"]:
        if key in names and key not in found:
            found[key] = value.decode("latin-1")
    return found
