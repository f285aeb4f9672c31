"""Faults a new-user trial found, each fixed as a kind and checked across every field or route it covers,
on SQLite and PostgreSQL:

- a date-time whose UTC value is not representable (``9999-12-31T23:59:59-14:00``) is a 400 naming the
  field, for every `format: date-time` parameter and body field of the contract (it was a 500);
- a secret value shows nowhere in a task's views: every user-given text of the task, its run identity
  and its sweep, while the values are held and after they are erased;
- a secret value shorter than `MIN_SECRET_CHARS` is refused at submit, named by its name, never shown;
- a task no worker could start (a blank entrypoint, a dataset mount path outside the workdir) is refused
  at submit with the worker's own rule (tasks and sweep templates);
- HTTP details: an invalid Range is ignored (200), X-API-Key's surrounding whitespace is not part of the
  key, a content-coded request body is a 415 naming Content-Encoding.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runplane.app import load_spec
from runplane.redaction import MIN_SECRET_CHARS, REDACTED
from tests.conftest import auth
from tests.support.workers import submit, task_of

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

# Parsed once per process with libyaml (runplane.app.load_spec): pure-Python safe_load took ~1 s of
# every test process's collection, per module. Read only.
SPEC = load_spec()


# --- date-times ------------------------------------------------------------------------------------------


def _resolve(schema: Any) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        node: Any = SPEC
        for part in schema["$ref"].split("/")[1:]:
            node = node[part]
        schema = node
    return schema


def _date_time_paths(schema: Any, path: tuple[str, ...] = (), depth: int = 0) -> Iterator[tuple[str, ...]]:
    schema = _resolve(schema)
    if not isinstance(schema, dict) or depth > 8:
        return
    if schema.get("format") == "date-time":
        yield path
    for name, sub in (schema.get("properties") or {}).items():
        yield from _date_time_paths(sub, (*path, name), depth + 1)
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(key, []):
            yield from _date_time_paths(sub, path, depth + 1)


def date_time_inputs() -> list[tuple[str, str, str, str]]:
    """(method, path, "query" | "body", field) for every date-time parameter and top-level body field."""
    found = []
    for route, item in SPEC["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
                parameter = _resolve(parameter)
                if _resolve(parameter.get("schema")).get("format") == "date-time":
                    found.append((method, route, parameter["in"], parameter["name"]))
            body = _resolve(operation.get("requestBody") or {})
            media = (body.get("content") or {}).get("application/json")
            if media:
                found += [
                    (method, route, "body", ".".join(path)) for path in _date_time_paths(media["schema"])
                ]
    return found


DATE_TIME_INPUTS = date_time_inputs()
OUT_OF_RANGE = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-23:59"]


def test_the_contract_has_the_date_times_this_file_knows():
    # A new date-time input is covered by test_an_unrepresentable_date_time_is_a_400 on its own; this
    # only guards the walker itself against finding nothing.
    assert {(route, field) for _, route, _, field in DATE_TIME_INPUTS} >= {
        ("/v1/audit/events", "from"),
        ("/v1/audit/events", "to"),
        ("/v1/scheduler/reservations", "starts_at"),
        ("/v1/scheduler/reservations", "expires_at"),
    }


def _operation(method: str, route: str) -> dict[str, Any]:
    operation: dict[str, Any] = SPEC["paths"][route][method]
    return operation


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize(("method", "route", "where", "field"), DATE_TIME_INPUTS)
async def test_an_unrepresentable_date_time_is_a_400(
    client, admin_key, user_key, worker_key, method, route, where, field, value
):
    operation = _operation(method, route)
    assert "{" not in route, "a date-time on a route with path parameters: give this test its ids"
    keys = {"admin": admin_key, "user": user_key, "worker": worker_key}
    key = keys[operation.get("x-roles", ["user"])[0]]
    if where == "query":
        response = await client.request(method.upper(), route, params={field: value}, headers=auth(key))
    else:
        media = _resolve(operation["requestBody"])["content"]["application/json"]
        body = json.loads(json.dumps(media.get("example") or {}))
        node = body
        *parents, last = field.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
        response = await client.request(method.upper(), route, json=body, headers=auth(key))
    assert response.status_code in (400, 422), response.text
    answer = response.json()
    assert answer["code"] == "VALIDATION_ERROR"
    assert answer["details"]["field"] == field
    assert "0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z" in answer["error"]


async def test_date_times_at_the_edges_of_the_range_are_served(client, admin_key):
    for value in ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59+14:00"]:
        response = await client.get("/v1/audit/events", params={"from": value}, headers=auth(admin_key))
        assert response.status_code == 200, response.text


# --- secrets in the task's views -------------------------------------------------------------------------

MARKER = "Mk7secretValue9"

# The string-holding fields of TaskCreate, and where test_no_view_shows_a_secret_value puts the marker.
# References to other resources (ids) and fixed vocabularies are checked by the server, not free text.
# Not free text: ids the server resolves, the secrets themselves, and a model's `inputs` (each is checked
# against the values the model declares, any other is a 422, and they need a model, not an entrypoint).
REFERENCES = {"model_id", "snapshot_id", "experiment_id", "reservation_id", "retry_on", "secrets", "inputs"}


def _string_fields(schema: Any, depth: int = 0) -> bool:
    schema = _resolve(schema)
    if not isinstance(schema, dict) or depth > 6:
        return False
    if schema.get("type") == "string" or schema.get("additionalProperties") is True:
        return True
    subs = [
        *(schema.get("properties") or {}).values(),
        *([schema["items"]] if "items" in schema else []),
        *([schema["additionalProperties"]] if isinstance(schema.get("additionalProperties"), dict) else []),
        *schema.get("oneOf", []),
        *schema.get("anyOf", []),
    ]
    return any(_string_fields(sub, depth + 1) for sub in subs)


def text_body(marker: str) -> dict[str, Any]:
    """A task whose every free-text field holds `marker`, which is also one of its secret values."""
    return {
        "job_name": f"job-{marker}",
        "entrypoint": f"python train.py --note {marker}",
        "args": ["--plain", f"x{marker}y"],
        "env": {"NOTE": f"see {marker}"},
        "secrets": {"TOKEN": marker},
        "metadata": {"note": f"token is {marker}", marker: "as a key"},
        "run_label": f"label {marker}",
        "datasets": [],
        "dataset_specs": [
            {
                "name": f"d{marker}",
                "source": f"https://example.com/{marker}/data.csv",
                "sha256": "0" * 64,
                "mount_path": f"data/{marker}",
            }
        ],
        "gpu": 1,
        "gpu_type": f"gpu-{marker}",
        "plugin_configs": {"wandb": {"settings": {"project": f"p-{marker}", "entity": marker}}},
    }


def test_the_marker_body_covers_every_free_text_field():
    properties = _resolve(SPEC["components"]["schemas"]["TaskCreate"])["properties"]
    text_fields = {name for name, schema in properties.items() if _string_fields(schema)}
    assert text_fields - REFERENCES <= set(text_body("m")), "a new text field: put the marker in it"


async def _views(client: httpx.AsyncClient, key: str, task_id: str) -> list[str]:
    texts = []
    for url in (
        f"/v1/tasks/{task_id}",
        "/v1/tasks",
        f"/v1/tasks/{task_id}/run",
        f"/v1/tasks/{task_id}/status",
    ):
        response = await client.get(url, headers=auth(key))
        assert response.status_code == 200, (url, response.text)
        texts.append(response.text)
    return texts


async def test_no_view_shows_a_secret_value(client, user_key):
    response = await client.post("/v1/tasks", json=text_body(MARKER), headers=auth(user_key))
    assert response.status_code == 201, response.text
    assert MARKER not in response.text
    task_id = response.json()["id"]
    for text in await _views(client, user_key, task_id):
        assert MARKER not in text
    task = await task_of(client, user_key, task_id)
    assert task["metadata"] == {"note": f"token is {REDACTED}", REDACTED: "as a key"}
    assert task["job_name"] == f"job-{REDACTED}"
    assert task["dataset_specs"][0]["source"] == f"https://example.com/{REDACTED}/data.csv"
    # Once the task ends its values are erased: the texts were redacted at rest by then.
    cancelled = await client.delete(f"/v1/tasks/{task_id}", headers=auth(user_key))
    assert cancelled.status_code in (200, 202, 204), cancelled.text
    for text in await _views(client, user_key, task_id):
        assert MARKER not in text
    assert (await task_of(client, user_key, task_id))["metadata"]["note"] == f"token is {REDACTED}"


async def test_a_secret_value_is_hidden_in_every_text_field_property(client, user_key):
    async def views_of(marker: str) -> list[str]:
        response = await client.post("/v1/tasks", json=text_body(marker), headers=auth(user_key))
        assert response.status_code == 201, response.text
        return [response.text, *await _views(client, user_key, response.json()["id"])]

    @settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(middle=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=2, max_size=20))
    def check(middle: str) -> None:
        # Q and Z never occur in ids (hex), timestamps or "<redacted>": only a leak can show the marker.
        marker = f"Q{middle}Z"
        for text in anyio.from_thread.run(views_of, marker):
            assert marker not in text

    await anyio.to_thread.run_sync(check)


async def test_a_sweep_does_not_show_its_secret_values(client, user_key):
    template = {"job_name": f"job-{MARKER}", "entrypoint": "python t.py", "secrets": {"TOKEN": MARKER}}
    response = await client.post(
        "/v1/sweeps",
        json={"task": {**template, "args": ["{lr}"]}, "grid": {"lr": [1, 2]}},
        headers=auth(user_key),
    )
    assert response.status_code == 201, response.text
    assert MARKER not in response.text
    sweep_id = response.json()["id"]
    for url in (f"/v1/sweeps/{sweep_id}", "/v1/sweeps", f"/v1/sweeps/{sweep_id}/results"):
        answer = await client.get(url, headers=auth(user_key))
        assert answer.status_code == 200 and MARKER not in answer.text, (url, answer.text)


# --- short secret values ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "x", "abc"])
async def test_a_short_secret_value_is_refused_by_name(client, user_key, value):
    assert len(value) < MIN_SECRET_CHARS
    bodies = {
        "/v1/tasks": {"job_name": "j", "entrypoint": "python t.py", "secrets": {"SHORT_ONE": value}},
        "/v1/sweeps": {
            "task": {"job_name": "j", "entrypoint": "python t.py {a}", "secrets": {"SHORT_ONE": value}},
            "grid": {"a": [1]},
        },
    }
    for url, body in bodies.items():
        response = await client.post(url, json=body, headers=auth(user_key))
        assert response.status_code in (400, 422), response.text
        answer = response.json()
        assert answer["code"] == "VALIDATION_ERROR"
        assert answer["details"]["field"].endswith("secrets.SHORT_ONE")
        assert f"at least {MIN_SECRET_CHARS} characters" in answer["error"]
        if value:
            assert value not in json.dumps(answer["details"]) and repr(value) not in answer["error"]


async def test_a_retry_refuses_a_short_secret_value(client, user_key):
    task_id = await submit(client, user_key, secrets={"HF_TOKEN": "long-enough"})
    assert (await client.delete(f"/v1/tasks/{task_id}", headers=auth(user_key))).status_code in (
        200,
        202,
        204,
    )
    response = await client.post(
        f"/v1/tasks/{task_id}/retry", json={"secrets": {"HF_TOKEN": "x"}}, headers=auth(user_key)
    )
    assert response.status_code in (400, 422), response.text
    assert response.json()["details"]["field"] == "secrets.HF_TOKEN"


async def test_a_short_plugin_secret_in_a_task_is_refused(client, user_key):
    body = {
        "job_name": "j",
        "entrypoint": "python t.py",
        "plugin_configs": {"wandb": {"settings": {"api_key": "k"}}},
    }
    response = await client.post("/v1/tasks", json=body, headers=auth(user_key))
    assert response.status_code == 422, response.text
    assert response.json()["details"]["field"].endswith("settings.api_key")
    assert "'k'" not in response.text


# --- tasks no worker could start -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"entrypoint": "   "}, "entrypoint"),
        ({"entrypoint": "\t\n"}, "entrypoint"),
        ({"entrypoint": 'python "unclosed'}, "entrypoint"),
        *(
            (
                {
                    "dataset_specs": [
                        {"name": "d", "source": "/data/x", "sha256": "0" * 64, "mount_path": path}
                    ]
                },
                "dataset_specs.0.mount_path",
            )
            for path in ("../../x", "/tmp/x", ".", "code/../..", "./", "a/../../b")
        ),
        (
            {"dataset_specs": [{"name": "..", "source": "/data/x", "sha256": "0" * 64}]},
            "dataset_specs.0.name",
        ),
    ],
)
async def test_a_task_no_worker_could_start_is_refused(client, user_key, change, field):
    task = {"job_name": "j", "entrypoint": "python t.py", **change}
    for url, body in {
        "/v1/tasks": task,
        "/v1/sweeps": {"task": {**task, "args": ["{a}"]}, "grid": {"a": [1]}},
    }.items():
        response = await client.post(url, json=body, headers=auth(user_key))
        assert response.status_code == 422, (url, response.text)
        prefix = (
            "task." if url == "/v1/sweeps" and response.json()["details"]["field"].startswith("task.") else ""
        )
        assert response.json()["details"]["field"] == prefix + field


async def test_mount_paths_inside_the_workdir_are_accepted(client, user_key):
    for path in ("data", "data/x", "./data/x", "code/x"):
        spec = {"name": "d", "source": "/data/x", "sha256": "0" * 64, "mount_path": path}
        await submit(client, user_key, dataset_specs=[spec])


# --- HTTP details ----------------------------------------------------------------------------------------


async def test_surrounding_whitespace_is_no_part_of_the_key(client, user_key):
    for value in (f"{user_key} ", f" {user_key}", f"\t{user_key}\t"):
        response = await client.get("/v1/tasks", headers={"X-API-Key": value})
        assert response.status_code == 200, response.text
    assert (await client.get("/v1/tasks", headers={"X-API-Key": f"{user_key}x"})).status_code == 401


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "GZIP"])
async def test_a_content_coded_body_is_415(client, user_key, coding):
    body = gzip.compress(json.dumps({"job_name": "j", "entrypoint": "python t.py"}).encode())
    for method, url in [("POST", "/v1/tasks"), ("POST", "/v1/experiments"), ("POST", "/v1/sweeps")]:
        response = await client.request(
            method,
            url,
            content=body,
            headers={**auth(user_key), "Content-Type": "application/json", "Content-Encoding": coding},
        )
        assert response.status_code == 415, response.text
        assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
        assert response.json()["details"]["field"] == "Content-Encoding"
        assert response.headers["accept-encoding"] == "identity"


async def test_an_identity_coded_body_is_served(client, user_key):
    response = await client.post(
        "/v1/tasks",
        json={"job_name": "j", "entrypoint": "python t.py"},
        headers={**auth(user_key), "Content-Encoding": "identity"},
    )
    assert response.status_code == 201, response.text
