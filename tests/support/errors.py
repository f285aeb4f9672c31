"""Asserting whole error bodies."""

from __future__ import annotations

from typing import Any

import httpx


def assert_error(
    response: httpx.Response, status: int, code: str, error: str, details: dict[str, Any] | None = None
) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    trace_id = response.headers["x-trace-id"]
    expected: dict[str, Any] = {"error": error, "code": code, "trace_id": trace_id}
    if details is not None:
        expected["details"] = details
    assert response.json() == expected
