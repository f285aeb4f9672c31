"""The raw-scope header reads of runplane.middleware.headers agree with Starlette's `Headers`."""

from __future__ import annotations

from starlette.datastructures import Headers

from runplane.middleware.headers import header, headers_named

SCOPE = {
    "type": "http",
    "headers": [
        (b"content-type", b"application/json"),
        (b"x-trace-id", b"first"),
        (b"x-trace-id", b"second"),
        (b"x-note", "caf\u00e9".encode("latin-1")),
    ],
}


def test_header_is_the_first_value_decoded_as_starlette_decodes_it() -> None:
    starlette = Headers(scope=SCOPE)
    for name in ("content-type", "x-trace-id", "x-note", "content-length"):
        assert header(SCOPE, name.encode()) == starlette.get(name)


def test_headers_named_takes_each_name_once_and_skips_absent_ones() -> None:
    found = headers_named(SCOPE, (b"x-trace-id", b"content-length", b"x-note"))
    assert found == {b"x-trace-id": "first", b"x-note": "caf\u00e9"}
