"""Checks an HTTP exchange against openapi.yaml with openapi-core."""

from __future__ import annotations

from functools import cache
from urllib.parse import parse_qsl

import httpx
from openapi_core import OpenAPI
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.testing import MockRequest, MockResponse

from runplane.app import load_spec

# Served beside the contract's operations, not by them.
OUTSIDE_CONTRACT = ("/docs", "/redoc", "/static/", "/openapi.json")


@cache
def contract() -> OpenAPI:
    # The contract's servers name real hosts; tests talk to whatever host they run on.
    return OpenAPI.from_dict({**load_spec(), "servers": [{"url": "/"}]})


def validate_exchange(response: httpx.Response) -> None:
    """Raises when the response is not what the contract promises for its request."""
    request = response.request
    path = request.url.path
    if path.startswith(OUTSIDE_CONTRACT):
        return
    mock_request = MockRequest(
        "http://testserver",
        request.method.lower(),
        path,
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
