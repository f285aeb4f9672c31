"""Every JSON request body of every operation is held to the server limits (runplane.validation), on both
databases: a string with a NUL or a lone surrogate, an integer of thousands of digits or nesting thousands
of levels deep in any field is a 400 `VALIDATION_ERROR` naming that field, never a 500.

The fields come from the contract itself (each operation's requestBody schema, walked through `$ref`s,
arrays and maps), so an operation or field added later is covered without touching this test.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import anyio.from_thread
import anyio.to_thread
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from runplane.app import HTTP_METHODS, NUL_ALLOWED_OPERATIONS, load_spec
from runplane.validation import MAX_INTEGER_DIGITS, MAX_JSON_DEPTH
from tests.conftest import auth
from tests.support.errors import assert_error
from tests.support.worker_flow import FakeWorker

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

Path = tuple[str | int, ...]
MAP_KEY = "k"  # the property name used where a schema allows any (additionalProperties)


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    spec = load_spec()
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _fields(schema: dict[str, Any], path: Path, seen: frozenset[str]) -> Iterator[tuple[Path, str]]:
    """(path, kind) of every string, integer and free-form field under `schema`; kind is its JSON type,
    or "any" for a value the schema leaves open (where nesting can run deep)."""
    reference = schema.get("$ref")
    if reference in seen:
        return
    seen = seen | {reference} if reference else seen
    schema = _resolve(schema)
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        yield from _fields(branch, path, seen)
    kind = schema.get("type")
    if kind == "string":
        yield path, "string"
    elif kind == "integer":
        yield path, "integer"
    elif kind == "array":
        yield from _fields(schema.get("items", {}), (*path, 0), seen)
    elif kind == "object" or "properties" in schema:
        for name, child in schema.get("properties", {}).items():
            yield from _fields(child, (*path, name), seen)
        extra = schema.get("additionalProperties")
        if extra is True or extra == {}:
            yield (*path, MAP_KEY), "any"
        elif isinstance(extra, dict):
            yield from _fields(extra, (*path, MAP_KEY), seen)
    elif not kind and not schema.get("anyOf") and not schema.get("enum"):
        yield path, "any"


def _operations() -> list[tuple[str, str, str, list[tuple[Path, str]]]]:
    """(operationId, method, url, fields) of every operation that takes a JSON body."""
    found = []
    for template, item in load_spec()["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            url = template
            for name in [part[1:-1] for part in template.split("/") if part.startswith("{")]:
                url = url.replace(f"{{{name}}}", "x")
            fields = sorted(set(_fields(content["application/json"]["schema"], (), frozenset())), key=str)
            found.append((operation["operationId"], method.upper(), url, fields))
    return found


OPERATIONS = _operations()


def test_the_contract_walk_finds_the_fields():
    by_operation = {operation_id: fields for operation_id, _, _, fields in OPERATIONS}
    assert len(by_operation) >= 10
    task_fields = dict(by_operation["create_task"])
    assert task_fields[("entrypoint",)] == "string"
    assert task_fields[("args", 0)] == "string"
    assert task_fields[("env", MAP_KEY)] == "string"
    assert task_fields[("secrets", MAP_KEY)] == "string"
    assert task_fields[("priority",)] == "integer"
    assert task_fields[("random_seed",)] == "integer"
    assert task_fields[("inputs", MAP_KEY)] == "any"
    assert task_fields[("dataset_specs", 0, "sha256")] == "string"
    assert dict(by_operation["append_task_logs"])[("lines", 0, "text")] == "string"


def _body_with(path: Path, value: Any) -> Any:
    """The smallest body that holds `value` at `path`."""
    for part in reversed(path):
        value = [value] if isinstance(part, int) else {part: value}
    return value


def _expected_field(path: Path, kind: str) -> str:
    if kind == "any":  # nesting is named by its property names
        return ".".join(str(part) for part in path if isinstance(part, str))
    return ".".join(str(part) for part in path)


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def _bad_strings(allow_nul: bool) -> st.SearchStrategy[str]:
    bad = ["\ud800", "\udbff", "\udc00", "\udfff"] + ([] if allow_nul else ["\x00"])
    return st.builds(
        lambda before, char, after: before + char + after,
        st.text(max_size=8),
        st.sampled_from(bad),
        st.text(max_size=8),
    )


@st.composite
def bad_requests(draw: st.DrawFn) -> tuple[str, str, str, Path, str, bytes]:
    operation_id, method, url, fields = draw(st.sampled_from(OPERATIONS))
    path, kind = draw(st.sampled_from(fields))
    if kind == "string":
        value: Any = draw(_bad_strings(operation_id in NUL_ALLOWED_OPERATIONS))
        body = json.dumps(_body_with(path, value))  # ensure_ascii: "\ud800" and "\u0000" as escapes
    elif kind == "integer":
        digits = draw(st.integers(min_value=MAX_INTEGER_DIGITS + 1, max_value=6000))
        body = json.dumps(_body_with(path, "__N__")).replace('"__N__"', "9" * digits)
    else:
        depth = draw(st.sampled_from([MAX_JSON_DEPTH, 200, 5000]))
        nested = "[" * depth + "]" * depth
        body = json.dumps(_body_with(path, "__N__")).replace('"__N__"', nested)
    return operation_id, method, url, path, kind, body.encode()


async def test_no_malformed_field_is_ever_a_500(client: httpx.AsyncClient, admin_key, worker_key):
    async def send(method: str, url: str, key: str, body: bytes) -> httpx.Response:
        headers = {**auth(key), "content-type": "application/json"}
        return await client.request(method, url, headers=headers, content=body)

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=bad_requests())
    def check(case: tuple[str, str, str, Path, str, bytes]) -> None:
        operation_id, method, url, path, kind, body = case
        key = worker_key if url.startswith("/v1/workers") else admin_key
        response = anyio.from_thread.run(send, method, url, key, body)
        assert response.status_code == 400, (operation_id, path, response.text)
        assert response.headers["content-type"] == "application/json"
        payload = response.json()
        assert set(payload) == {"error", "code", "trace_id", "details"}
        assert payload["code"] == "VALIDATION_ERROR"
        assert payload["trace_id"] == response.headers["x-trace-id"]
        assert payload["details"] == {"field": _expected_field(path, kind)}, (operation_id, payload)

    await anyio.to_thread.run_sync(check)


MARKER = "s3cr3t-marker-7f1c"


@st.composite
def misshapen_requests(draw: st.DrawFn) -> tuple[str, str, str, Path, bytes]:
    """A body with a value of the wrong shape in one field, the value carrying `MARKER`."""
    operation_id, method, url, fields = draw(st.sampled_from(OPERATIONS))
    path, _kind = draw(st.sampled_from(fields))
    value = draw(
        st.sampled_from([[MARKER], {"k": MARKER}, MARKER, MARKER + "x" * 5000, [[MARKER]], {MARKER: 1}])
    )
    return operation_id, method, url, path, json.dumps(_body_with(path, value)).encode()


async def test_a_refused_value_is_never_echoed_or_logged(
    client: httpx.AsyncClient, admin_key, worker_key, caplog
):
    """Any field may be a secret (`secrets`, a plugin's `api_key`): a 4xx names the field and the rule
    broken, never the value the client sent, in the answer or in the server's log."""

    async def send(method: str, url: str, key: str, body: bytes) -> httpx.Response:
        headers = {**auth(key), "content-type": "application/json"}
        return await client.request(method, url, headers=headers, content=body)

    @settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=misshapen_requests())
    def check(case: tuple[str, str, str, Path, bytes]) -> None:
        operation_id, method, url, path, body = case
        key = worker_key if url.startswith("/v1/workers") else admin_key
        response = anyio.from_thread.run(send, method, url, key, body)
        assert response.status_code != 500, (operation_id, path, response.text)
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/json"
            assert MARKER not in response.text, (operation_id, path, response.text)

    with caplog.at_level(logging.INFO):
        await anyio.to_thread.run_sync(check)
    # What refused a body: connexion's validators and the error path (values it accepted, such as an
    # experiment's name, may appear in the records of what was done with them).
    refusals = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith(("connexion", "runplane.errors", "runplane.middleware"))
        or r.levelno >= logging.WARNING
    ]
    assert refusals and not [message for message in refusals if MARKER in message]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("secrets", {"TOK": ["topsecretvalue"]}, "'secrets.TOK' must be of type string"),
        ("secrets", "topsecretvalue", "'secrets' must be of type object"),
        ("secrets", {"OK": 12345}, "'secrets.OK' must be of type string"),
        ("priority", 11, "'priority' must be at most 10"),
        ("priority", True, "'priority' must be of type integer"),
    ],
)
async def test_schema_errors_name_the_rule_not_the_value(client, user_key, field, value, message):
    body = {"job_name": "a", "entrypoint": "true", field: value}
    response = await client.post("/v1/tasks", headers=auth(user_key), json=body)
    assert_error(response, 400, "VALIDATION_ERROR", message, {"field": message.split("'")[1]})


async def test_a_json_null_body_is_named(client, user_key):
    response = await post_raw(client, user_key, b"null")
    assert_error(response, 400, "VALIDATION_ERROR", "Request body must be a JSON value other than null")


async def test_a_chunked_json_body_is_read(app, client, user_key):
    """HTTP/1.1 chunked transfer coding (RFC 9112 §7.1) has no Content-Length; the body is still read."""
    headers = {"x-api-key": user_key, "content-type": "application/json", "transfer-encoding": "chunked"}
    chunks = [b'{"job_name": "chunk', b'ed", "entrypoint"', b': "true"}']
    incoming = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/tasks",
        "raw_path": b"/v1/tasks",
        "query_string": b"",
        "root_path": "",
        "headers": [(name.encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 50002),
        "server": ("testserver", 80),
    }
    with anyio.fail_after(60):
        await app(scope, receive, send)
    assert sent[0]["status"] == 201, sent
    task = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert task["job_name"] == "chunked"
    listed = (await client.get("/v1/tasks", headers=auth(user_key))).json()
    assert listed["total"] == 1


# --- the inputs of issue 7, one by one ---------------------------------------------------------------


async def post_raw(client: httpx.AsyncClient, key: str, body: bytes, content_type: str = "application/json"):
    return await client.post("/v1/tasks", headers={**auth(key), "content-type": content_type}, content=body)


@pytest.mark.parametrize(
    "content_type", ["Application/JSON", "APPLICATION/JSON; charset=UTF-8", " application/Json"]
)
async def test_media_types_are_case_insensitive(client, user_key, content_type):
    response = await post_raw(client, user_key, b'{"job_name": "a", "entrypoint": "true"}', content_type)
    assert response.status_code == 201, response.text
    assert response.json()["entrypoint"] == "true"


@pytest.mark.parametrize(
    ("body", "message", "field"),
    [
        (
            b'{"job_name": "a", "entrypoint": "true", "run_label": "x\\ud800"}',
            "'run_label' contains an unpaired surrogate (\\ud800)",
            "run_label",
        ),
        (
            b'{"job_name": "a", "entrypoint": "true", "metadata": {"k": "\\udfff"}}',
            "'metadata.k' contains an unpaired surrogate (\\udfff)",
            "metadata.k",
        ),
        (
            b'{"job_name": "a", "entrypoint": "true", "priority": ' + b"7" * 5000 + b"}",
            "'priority': integer has more than 64 digits",
            "priority",
        ),
        (
            b'{"job_name": "a", "entrypoint": "true", "random_seed": -' + b"1" * 100 + b"}",
            "'random_seed': integer has more than 64 digits",
            "random_seed",
        ),
        (
            b'{"job_name": "a", "model_id": "linear_reg", "inputs": {"grid": '
            + b"[" * 5000
            + b"]" * 5000
            + b"}}",
            "Nested deeper than 32 levels",
            "inputs.grid",
        ),
        (
            b'{"job_name": "a", "entrypoint": "true", "metadata": ' + b'{"a":' * 3000 + b"1" + b"}" * 3001,
            "Nested deeper than 32 levels",
            "metadata.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a",
        ),
        (
            b'{"job_name": "a\\u0000", "entrypoint": "true"}',
            "'job_name' contains a NUL character (\\u0000)",
            "job_name",
        ),
        (
            b'{"job_name": "a", "entrypoint": "true", "metadata": {"note": "\\u0000"}}',
            "'metadata.note' contains a NUL character (\\u0000)",
            "metadata.note",
        ),
        (
            b'{"job_name": "a", "entrypoint": "true", "memory_gb": NaN}',
            "'memory_gb': NaN is not a JSON number",
            "memory_gb",
        ),
        (
            b'{"job_name": "a", "entrypoint": "true", "memory_gb": 1e999}',
            "'memory_gb': number is out of range",
            "memory_gb",
        ),
    ],
)
async def test_values_no_database_can_hold_are_400_naming_the_field(client, user_key, body, message, field):
    response = await post_raw(client, user_key, body)
    assert_error(response, 400, "VALIDATION_ERROR", message, {"field": field})
    assert (await client.get("/v1/tasks", headers=auth(user_key))).json()["total"] == 0


async def test_task_log_lines_may_carry_nul_but_not_lone_surrogates(client, user_key, worker_key):
    task = (
        await client.post("/v1/tasks", headers=auth(user_key), json={"job_name": "a", "entrypoint": "true"})
    ).json()
    worker = await FakeWorker(client, worker_key).register()
    await worker.claim(task["id"])
    accepted = await worker.log(task["id"], "before\x00after")
    assert accepted.status_code == 204, accepted.text
    log = await client.get(f"/v1/tasks/{task['id']}/logs", headers=auth(user_key))
    assert "before\x00after" in log.text
    refused = await client.post(
        f"{worker.base}/tasks/{task['id']}/logs",
        headers={**auth(worker_key), "content-type": "application/json"},
        content=b'{"lines": [{"stream": "stdout", "text": "\\ud800"}]}',
    )
    assert_error(
        refused,
        400,
        "VALIDATION_ERROR",
        "'lines.0.text' contains an unpaired surrogate (\\ud800)",
        {"field": "lines.0.text"},
    )


# --- bodies that never finish arriving, and clients that hang up -------------------------------------


async def call_raw(
    app: Any, path: str, headers: dict[str, str], chunks: list[bytes], *, then: str
) -> list[dict[str, Any]]:
    """One request straight through the ASGI app: `chunks` of the body arrive, then the client either
    hangs (`then="hang"`, sending nothing more) or disconnects (`then="disconnect"`)."""
    incoming = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        if then == "hang":
            await anyio.sleep_forever()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 50001),
        "server": ("testserver", 80),
    }
    with anyio.fail_after(60):
        await app(scope, receive, send)
    return sent


def request_counts(text: str, operation: str) -> dict[str, float]:
    """runplane_http_requests_total of one operation label, by status."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "runplane_http_requests_total" and sample.labels["operation"] == operation:
                counts[sample.labels["status"]] = counts.get(sample.labels["status"], 0) + sample.value
    return counts


class TestSlowAndAbandonedBodies:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"body_timeout_seconds": 1.0}

    @pytest.mark.parametrize(
        ("path", "content_type"),
        [("/v1/tasks", "application/json"), ("/v1/snapshots", "application/gzip")],
    )
    async def test_a_body_that_never_finishes_is_408(self, app, user_key, path, content_type):
        headers = {"x-api-key": user_key, "content-type": content_type, "content-length": "1000"}
        sent = await call_raw(app, path, headers, [b'{"job'], then="hang")
        start, body = sent[0], sent[-1]
        assert start["status"] == 408
        assert dict(start["headers"])[b"content-type"] == b"application/json"
        payload = json.loads(body["body"])
        assert payload == {
            "error": "The request body did not arrive within 1 seconds",
            "code": "REQUEST_TIMEOUT",
            "trace_id": dict(start["headers"])[b"x-trace-id"].decode(),
            "details": {"timeout_seconds": 1.0},
        }

    @pytest.mark.parametrize(
        ("path", "content_type", "operation"),
        [
            ("/v1/tasks", "application/json", "create_task"),
            ("/v1/snapshots", "application/gzip", "upload_snapshot"),
        ],
    )
    async def test_a_client_that_hangs_up_is_a_499_warning_not_a_500(
        self, app, client, user_key, caplog, path, content_type, operation
    ):
        before = request_counts((await client.get("/metrics")).text, operation)
        headers = {"x-api-key": user_key, "content-type": content_type, "content-length": "1000"}
        with caplog.at_level(logging.INFO):
            await call_raw(app, path, headers, [b"\x1f\x8b\x08\x00"], then="disconnect")
        after = request_counts((await client.get("/metrics")).text, operation)
        assert after.get("499", 0) == before.get("499", 0) + 1
        assert after.get("500", 0) == before.get("500", 0)
        errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
        assert errors == []
        warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
        assert any(message.startswith("client disconnected") and path in message for message in warnings)
        access = [
            record
            for record in caplog.records
            if record.name == "runplane.access" and path in record.getMessage()
        ]
        assert [record.status for record in access] == [499]
