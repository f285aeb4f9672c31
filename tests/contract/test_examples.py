"""Every request body and success answer in openapi.yaml has an `example`, and every example is valid.

The contract shows real requests in Swagger UI and ReDoc through media-type `example`s (the style of the
shared error answers in `components/responses`). This walks every operation, so an operation added later
without examples fails here: each JSON or text media type of a request body and of a 2xx answer needs an
`example` (or `examples`); only byte bodies (`format: binary`: snapshots, artifacts) are exempt, since no
example can show them. Each example is validated against its media type's schema with jsonschema, through
openapi-schema-validator's OpenAPI 3.0 dialect (openapi.yaml is 3.0.3: `nullable`, `readOnly`/`writeOnly`
and draft-4 keywords), with `$ref`s resolved within the whole document; request examples are checked as
writes and answer examples as reads. A Server-Sent Events example is one `ServerSentEvent` (an event as
framed on the wire), whose `data` is checked against `StreamEvent` too.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator

from tests.support.server import REPO_ROOT

pytestmark = pytest.mark.contract

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@cache
def _spec() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO_ROOT / "openapi.yaml").read_text())
    return document


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A `$ref` to a component (request body, response) followed to what it names."""
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local $refs are expected, got {ref}"
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


@dataclass(frozen=True)
class Media:
    """One media type of a request body or a success answer: where it is, its schema and its examples."""

    where: str  # e.g. "POST /v1/tasks request application/json" or "GET /health 200 application/json"
    media_type: str
    schema: dict[str, Any]
    examples: tuple[Any, ...]
    is_request: bool


def _examples_of(media: dict[str, Any]) -> tuple[Any, ...]:
    found: list[Any] = []
    if "example" in media:
        found.append(media["example"])
    for named in (media.get("examples") or {}).values():
        assert "value" in named, "only inline `examples` with a `value` are expected"
        found.append(named["value"])
    return tuple(found)


def media_types(spec: dict[str, Any]) -> Iterator[Media]:
    """Every media type of every operation's request body and 2xx answers, in document order."""
    for path, item in spec["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            name = f"{method.upper()} {path}"
            if "requestBody" in operation:
                body = _resolve(spec, operation["requestBody"])
                for media_type, media in body.get("content", {}).items():
                    yield Media(
                        f"{name} request {media_type}",
                        media_type,
                        media.get("schema", {}),
                        _examples_of(media),
                        True,
                    )
            for status, answer in operation.get("responses", {}).items():
                if not str(status).startswith("2"):
                    continue
                answer = _resolve(spec, answer)
                for media_type, media in answer.get("content", {}).items():
                    yield Media(
                        f"{name} {status} {media_type}",
                        media_type,
                        media.get("schema", {}),
                        _examples_of(media),
                        False,
                    )


def _is_bytes(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    schema = _resolve(spec, schema)
    return schema.get("type") == "string" and schema.get("format") == "binary"


def missing_examples(spec: dict[str, Any]) -> list[str]:
    """Where a request body or success answer that can be shown has no example."""
    return [
        media.where for media in media_types(spec) if not media.examples and not _is_bytes(spec, media.schema)
    ]


def schema_problems(
    spec: dict[str, Any], schema: dict[str, Any], instance: Any, *, is_request: bool
) -> list[str]:
    """Why `instance` does not validate against `schema` (OpenAPI 3.0, `$ref`s into `spec`)."""
    root = {"components": spec.get("components", {}), "allOf": [schema]}
    validator_class = OAS30WriteValidator if is_request else OAS30ReadValidator
    validator = validator_class(root, format_checker=validator_class.FORMAT_CHECKER)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


def _event_problems(spec: dict[str, Any], event: dict[str, str]) -> list[str]:
    """An SSE example is one ServerSentEvent as framed: its `data` must be a StreamEvent as JSON whose
    `type` and `id` are the frame's `event` and `id`."""
    data = json.loads(event["data"])
    found = schema_problems(spec, {"$ref": "#/components/schemas/StreamEvent"}, data, is_request=False)
    if isinstance(data, dict) and (event["event"] != data.get("type") or event["id"] != str(data.get("id"))):
        found.append("the frame's `event` and `id` must be its data's `type` and `id`")
    return [f"data: {problem}" for problem in found]


def example_problems(spec: dict[str, Any]) -> list[str]:
    """Every example of a request body or success answer that does not fit its media type's schema."""
    problems: list[str] = []
    for media in media_types(spec):
        for example in media.examples:
            found = schema_problems(spec, media.schema, example, is_request=media.is_request)
            if media.media_type == "text/event-stream" and not found:
                found = _event_problems(spec, example)
            problems += [f"{media.where}: {p}" for p in found]
    return problems


def test_every_request_body_and_success_answer_has_an_example() -> None:
    missing = missing_examples(_spec())
    assert not missing, "add an `example` to the media type of:\n" + "\n".join(missing)


def test_every_example_is_valid_against_its_schema() -> None:
    problems = example_problems(_spec())
    assert not problems, "\n".join(problems)


def test_the_shared_error_answers_examples_are_valid() -> None:
    spec = _spec()
    problems = []
    for name, answer in spec["components"]["responses"].items():
        for media_type, media in answer.get("content", {}).items():
            for example in _examples_of(media):
                found = schema_problems(spec, media["schema"], example, is_request=False)
                problems += [f"{name} {media_type}: {p}" for p in found]
    assert not problems, "\n".join(problems)


def test_the_checks_catch_a_missing_and_a_wrong_example() -> None:
    """The walk sees a new operation without examples, and the validation sees a bad value."""
    spec = copy.deepcopy(_spec())
    spec["paths"]["/v1/new-thing"] = {
        "post": {
            "operationId": "new_thing",
            "requestBody": {
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskCreate"}}}
            },
            "responses": {
                "201": {
                    "description": "Made.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Task"}}},
                },
                "204": {"description": "Nothing to say."},
            },
        }
    }
    assert [where for where in missing_examples(spec) if "new-thing" in where] == [
        "POST /v1/new-thing request application/json",
        "POST /v1/new-thing 201 application/json",
    ]
    task = spec["paths"]["/v1/tasks/{taskId}"]["get"]["responses"]["200"]["content"]["application/json"]
    task["example"] = {**task["example"], "status": "sleeping"}
    create = spec["paths"]["/v1/tasks"]["post"]["requestBody"]["content"]["application/json"]
    create["example"] = {**create["example"], "priority": 11}
    stream = spec["paths"]["/v1/scheduler/jobs/{jobId}/stream"]["get"]["responses"]["200"]["content"]
    stream["text/event-stream"]["example"] = {
        **stream["text/event-stream"]["example"],
        "event": "task_update",
    }
    problems = example_problems(spec)
    assert any(
        p.startswith("GET /v1/scheduler/jobs/{jobId}/stream 200 text/event-stream: data:") for p in problems
    )
    assert any(p.startswith("GET /v1/tasks/{taskId} 200 application/json: status:") for p in problems)
    assert any(p.startswith("POST /v1/tasks request application/json: priority:") for p in problems)


def test_the_examples_show_one_consistent_story() -> None:
    """The task the examples submit is the one they get, list, report on and fetch results of."""
    spec = _spec()

    def example(path: str, method: str, status: str = "200") -> Any:
        return spec["paths"][path][method]["responses"][status]["content"]["application/json"]["example"]

    created = example("/v1/tasks", "post", "201")
    task = example("/v1/tasks/{taskId}", "get")
    assert task["id"] == created["id"]
    assert created["id"] in [t["id"] for t in example("/v1/tasks", "get")["tasks"]]
    assert example("/v1/tasks/{taskId}/results", "get")["task_id"] == task["id"]
    assert example("/v1/tasks/{taskId}/artifacts", "get")["task_id"] == task["id"]
    assert example("/v1/tasks/{taskId}/run", "get")["task_id"] == task["id"]
    assert example("/v1/experiments/{experimentId}", "get")["id"] == task["experiment_id"]
    assert example("/v1/snapshots/{snapshotId}", "get")["id"] == task["snapshot_id"]
    assert example("/v1/scheduler/workers/{workerId}", "get")["id"] == task["worker_id"]
