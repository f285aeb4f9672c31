"""Checks an HTTP exchange against openapi.yaml with openapi-core."""

from __future__ import annotations

import re
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

import httpx
from openapi_core import OpenAPI
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.response.exceptions import MissingData

from runplane.app import load_spec

# Served beside the contract's operations, not by them.
OUTSIDE_CONTRACT = ("/docs", "/redoc", "/static/", "/openapi.json")


@cache
def contract() -> OpenAPI:
    # The contract's servers name real hosts; tests talk to whatever host they run on.
    return OpenAPI.from_dict({**load_spec(), "servers": [{"url": "/"}]})


@cache
def _slash_templates() -> list[tuple[list[str], re.Pattern[str], frozenset[str]]]:
    """Path templates with a `format: path` parameter: connexion lets such a parameter hold slashes
    (`/v1/tasks/{taskId}/artifacts/{artifactPath}` serves `plots/loss.png`), openapi-core does not."""
    found = []
    for template, item in load_spec().get("paths", {}).items():
        parameters: list[dict[str, Any]] = list(item.get("parameters", []))
        for operation in item.values():
            if isinstance(operation, dict):
                parameters += operation.get("parameters", [])
        names = frozenset(
            p["name"]
            for p in parameters
            if p.get("in") == "path" and p.get("schema", {}).get("format") == "path"
        )
        if not names:
            continue
        parts = re.split(r"(\{[^}]+\})", template)
        regex = "".join(
            (f"(?P<{part[1:-1]}>.+)" if part[1:-1] in names else f"(?P<{part[1:-1]}>[^/]+)")
            if part.startswith("{")
            else re.escape(part)
            for part in parts
        )
        found.append((parts, re.compile(f"^{regex}$"), names))
    return found


def contract_path(path: str) -> str:
    """The path as openapi-core can match it: slashes inside `format: path` parameters as %2F."""
    for parts, pattern, names in _slash_templates():
        match = pattern.match(path)
        if match:
            return "".join(
                (match[part[1:-1]].replace("/", "%2F") if part[1:-1] in names else match[part[1:-1]])
                if part.startswith("{")
                else part
                for part in parts
            )
    return path


def validate_exchange(response: httpx.Response) -> None:
    """Raises when the response is not what the contract promises for its request."""
    request = response.request
    path = request.url.path
    if path.startswith(OUTSIDE_CONTRACT):
        return
    mock_request = MockRequest(
        "http://testserver",
        request.method.lower(),
        contract_path(path),
        args=dict(parse_qsl(request.url.query.decode())),
        headers=dict(request.headers),
        data=request.content or None,
        content_type=request.headers.get("content-type", "application/json"),
    )
    mock_response = MockResponse(
        response.content,
        status_code=response.status_code,
        headers=dict(response.headers),
        content_type=response.headers.get("content-type", "").split(";")[0],
    )
    try:
        contract().validate_response(mock_request, mock_response)
    except (PathNotFound, OperationNotFound):
        # No operation: the answer must be the uniform 404/405 error.
        assert response.status_code in (404, 405), (request.method, path, response.status_code)
        body = response.json()
        assert {"error", "code", "trace_id"} <= set(body), body
    except MissingData:
        # openapi-core reads an empty body as no body; an empty text answer (an empty log) is a string.
        assert response.content == b"" and response.headers["content-type"].startswith("text/plain"), response


def validate_read(response: httpx.Response) -> None:
    """An httpx (sync client) response hook: read the body, then validate the exchange."""
    response.read()
    validate_exchange(response)
