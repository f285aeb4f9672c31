"""Every non-2xx answer is the uniform JSON error body, with the trace id in body and header."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from runplane.app import build_services, create_app
from runplane.settings import Settings
from runplane.tasks import TaskManager
from tests.conftest import auth
from tests.support.errors import assert_error

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def test_missing_key_is_401(client):
    response = await client.get("/v1/tasks")
    assert_error(response, 401, "UNAUTHORIZED", "No authorization token provided")


async def test_wrong_key_is_401(client):
    response = await client.get("/v1/tasks", headers=auth("rp_not-a-real-key"))
    assert_error(response, 401, "UNAUTHORIZED", "Provided apikey is not valid")


async def test_unknown_route_is_404(client, user_key):
    response = await client.get("/v1/nothing-here", headers=auth(user_key))
    assert_error(response, 404, "NOT_FOUND", "Resource not found")


async def test_wrong_method_is_405_with_the_right_allow_header(client, user_key):
    response = await client.put("/v1/tasks", headers=auth(user_key), json={})
    assert_error(response, 405, "METHOD_NOT_ALLOWED", "Method not allowed")
    assert response.headers["allow"] == "GET, POST, HEAD"


async def test_validation_error_names_the_field_and_omits_the_schema(client, user_key):
    response = await client.post(
        "/v1/tasks", headers=auth(user_key), json={"job_name": "x", "entrypoint": "true", "priority": 11}
    )
    assert_error(response, 400, "VALIDATION_ERROR", "'priority' must be at most 10", {"field": "priority"})


async def test_missing_required_field(client, user_key):
    response = await client.post("/v1/tasks", headers=auth(user_key), json={"entrypoint": "true"})
    assert_error(
        response, 400, "VALIDATION_ERROR", "'job_name' is a required property", {"field": "job_name"}
    )


async def test_bad_query_parameter(client, user_key):
    response = await client.get("/v1/tasks?limit=0", headers=auth(user_key))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["details"] == {"field": "limit", "in": "query"}
    assert "schema" not in body["error"]


async def test_malformed_json_is_400(client, user_key):
    response = await client.post(
        "/v1/tasks", headers={**auth(user_key), "content-type": "application/json"}, content=b'{"job_name": '
    )
    assert_error(response, 400, "BAD_REQUEST", "Request body is not valid JSON", {"position": 13})


async def test_unknown_query_parameter_is_400(client, user_key):
    response = await client.get("/v1/tasks?colour=red", headers=auth(user_key))
    assert_error(
        response,
        400,
        "VALIDATION_ERROR",
        "Unknown query parameter(s): colour",
        {"field": "colour", "in": "query"},
    )


async def test_unknown_body_field_is_named(client, user_key):
    response = await client.post(
        "/v1/tasks", headers=auth(user_key), json={"job_name": "x", "entrypoint": "true", "colour": "red"}
    )
    assert_error(
        response,
        400,
        "VALIDATION_ERROR",
        "Additional properties are not allowed ('colour' was unexpected)",
        {"field": "colour"},
    )


async def test_non_utf8_body_is_400(client, user_key):
    response = await client.post(
        "/v1/tasks",
        headers={**auth(user_key), "content-type": "application/json"},
        content=b'{"job_name": "\xff\xfe"}',
    )
    assert_error(response, 400, "BAD_REQUEST", "Request body is not valid UTF-8")


async def test_wrong_content_type_is_415(client, user_key):
    response = await client.post(
        "/v1/tasks", headers={**auth(user_key), "content-type": "text/plain"}, content=b"job_name=x"
    )
    assert response.status_code == 415
    assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"


@pytest.fixture
def settings_overrides():
    return {"max_body_bytes": 2048}


async def test_oversize_body_is_413(client, user_key):
    body = {"job_name": "big", "entrypoint": "true", "metadata": {"blob": "x" * 1000, "more": "y" * 1000}}
    response = await client.post("/v1/tasks", headers=auth(user_key), json=body)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE", "Request body exceeds 2048 bytes", {"limit_bytes": 2048})


async def test_trace_id_from_the_caller_is_kept(client, user_key):
    response = await client.get("/v1/nothing", headers={**auth(user_key), "X-Trace-Id": "caller-trace-0001"})
    assert response.headers["x-trace-id"] == "caller-trace-0001"
    assert response.json()["trace_id"] == "caller-trace-0001"


async def test_database_down_is_503(tmp_path, user_key, settings, caplog):
    # A server whose database has gone: the same app, pointed at a PostgreSQL port nobody listens on.
    broken = Settings(**{**settings.model_dump(), "database_url": "postgresql://nobody@127.0.0.1:1/none"})
    import httpx
    from asgi_lifespan import LifespanManager

    application = create_app(broken)
    logging.getLogger().addHandler(caplog.handler)  # create_app set the root logger's handlers anew
    async with LifespanManager(application) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get("/v1/tasks", headers=auth(user_key))
            ready = await http.get("/readyz")
    assert_error(response, 503, "SERVICE_UNAVAILABLE", "Database unavailable")
    assert response.headers["retry-after"] == "5"
    assert ready.status_code == 503
    # A handled outage is a warning line, not an "unhandled error" with a traceback.
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []
    warned = [record for record in caplog.records if record.name == "runplane.app"]
    assert [record.getMessage() for record in warned] == [
        "503 on GET /v1/tasks: Database unavailable (OperationalError)"
    ]
    assert warned[0].levelno == logging.WARNING and warned[0].exc_info is None


class _Crashing(TaskManager):
    async def page(self, *_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("connection string postgresql://u:hunter2@db leaked?")


@pytest.fixture
async def crashing_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose task manager crashes, given to the app at construction as every
    service is (nothing is patched after it is built)."""
    services = build_services(settings)
    real = services.tasks
    tasks = _Crashing(real.store, real.experiments, real.snapshots, real.aging, real.reservations)
    application = create_app(settings, services=dataclasses.replace(services, tasks=tasks))
    async with LifespanManager(application) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_a_crash_is_500_without_internal_detail(crashing_client, user_key, caplog):
    response = await crashing_client.get("/v1/tasks", headers=auth(user_key))
    assert_error(response, 500, "INTERNAL_ERROR", "Internal server error")
    assert "hunter2" not in response.text
    logged = [record for record in caplog.records if record.name == "runplane.app"]
    assert logged and logged[0].exc_info is not None


@pytest.mark.parametrize("path", ["/v1/tasks/a%0Ab", "/v1/tasks/a%0Ab/status", "/v1/nothing%0A"])
async def test_paths_no_route_can_match_get_the_uniform_404(client, user_key, path):
    # A newline defeats the outer app's mount pattern: its own 404 must still be the uniform body.
    response = await client.get(path, headers=auth(user_key))
    assert_error(response, 404, "NOT_FOUND", "Resource not found")


@pytest.mark.parametrize("path", ["/v1/tasks", "/v1/experiments", "/api/runs"])
async def test_a_body_without_content_type_is_415(client, user_key, path):
    response = await client.post(
        path,
        headers={**auth(user_key), "content-length": "36"},
        content=b'{"job_name":"x","entrypoint":"true"}',
    )
    assert_error(
        response,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "A request body needs a Content-Type header",
        {"field": "Content-Type"},
    )


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/v1/tasks?limit=5&limit=6", "limit"),
        ("/v1/tasks/0123456789abcdef0123456789abcdef/logs?rank=0&rank=1", "rank"),
    ],
)
async def test_a_single_valued_query_parameter_given_twice_is_400(client, user_key, url, name):
    response = await client.get(url, headers=auth(user_key))
    assert_error(
        response,
        400,
        "VALIDATION_ERROR",
        f"Query parameter '{name}' takes one value; it was given 2 times",
        {"field": name, "in": "query"},
    )
