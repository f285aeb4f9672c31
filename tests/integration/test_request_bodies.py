"""Every JSON request body of every operation is held to the server limits (runplane.validation), on both
databases: a string with a NUL or a lone surrogate, an integer of thousands of digits or nesting thousands
of levels deep in any field is a 400 `VALIDATION_ERROR` naming that field, never a 500.

The fields come from the contract itself (each operation's requestBody schema, walked through `$ref`s,
arrays and maps), so an operation or field added later is covered without touching this test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio.from_thread
import anyio.to_thread
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runplane.app import HTTP_METHODS, NUL_ALLOWED_OPERATIONS, load_spec
from runplane.validation import MAX_INTEGER_DIGITS, MAX_JSON_DEPTH
from tests.conftest import auth

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
