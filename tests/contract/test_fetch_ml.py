"""fetch_ml's own clients, unchanged, against runplane: its task bodies, list and get (seed 003).

Every answer runplane gives to fetch_ml's task operations must validate against fetch_ml's schemas
(transcribed in fetch_ml_schemas.yaml): a 201/200 against Task / TaskList, an error against its
ErrorResponse. That is what its generated client parses: `args` sent as one string, no `null` where it
types a field as a string, whole numbers where it types integers. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator

from tests.conftest import auth

pytestmark = [pytest.mark.contract, pytest.mark.integration, pytest.mark.anyio]

SCHEMAS = Path(__file__).with_name("fetch_ml_schemas.yaml")

# The create bodies fetch_ml's clients send: its CreateTaskRequest with `args` as a string (every
# property of the schema appears in at least one body; `datasets`, names of datasets the server would
# know, is refused below until runplane has such a catalog).
CREATE_BODIES: list[dict[str, Any]] = [
    {"job_name": "train", "entrypoint": "train.py"},
    {"job_name": "train-args", "entrypoint": "train.py", "args": "--epochs 10 --lr 0.001"},
    {
        "job_name": "quoted_args",
        "entrypoint": "python train.py",
        "args": "--name \"my run\" --tags 'a b' --path /data/x\\ y",
        "priority": 8,
    },
    {"job_name": "shell", "entrypoint": '/bin/bash -c "python train.py --epochs 10"', "args": ""},
    {
        "job_name": "resources",
        "entrypoint": "run.sh",
        "cpu": 2,
        "memory_gb": 4,
        "gpu": 0,
        "priority": 1,
        "metadata": {"team": "vision", "ticket": "ML-12"},
    },
    {
        "job_name": "data",
        "entrypoint": "train.py",
        "dataset_specs": [
            {
                "name": "mnist",
                "source": "/data/mnist.tar",
                "sha256": "a" * 64,
                "mount_path": "data/mnist",
            }
        ],
    },
]


@cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(SCHEMAS.read_text())
    return document


def assert_fetch_ml(schema_name: str, instance: Any) -> None:
    """`instance` validates against fetch_ml's `schema_name` (refs resolve within the transcription)."""
    root = {**_document(), "$ref": f"#/components/schemas/{schema_name}"}
    validator = OAS30Validator(root, format_checker=OAS30Validator.FORMAT_CHECKER)
    problems = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)
    ]
    assert not problems, f"not a fetch_ml {schema_name}: {problems}\n{instance}"


def test_the_transcription_is_fetch_mls_contract_shape() -> None:
    schemas = _document()["components"]["schemas"]
    assert schemas["CreateTaskRequest"]["properties"]["args"] == {
        "type": "string",
        "description": "Command-line arguments for the entrypoint",
    }
    assert schemas["Task"]["properties"]["memory_gb"] == {"type": "integer"}
    # The transcription catches what the conformance test is about (so the test can fail).
    with pytest.raises(AssertionError, match="worker_id"):
        assert_fetch_ml("Task", {"id": "x", "worker_id": None})
    with pytest.raises(AssertionError, match="memory_gb"):
        assert_fetch_ml("Task", {"id": "x", "memory_gb": 4.0})
    for body in CREATE_BODIES:
        assert_fetch_ml("CreateTaskRequest", body)


async def test_fetch_ml_task_operations_answer_in_its_schemas(client, user_key) -> None:
    created = []
    for body in CREATE_BODIES:
        response = await client.post("/v1/tasks", headers=auth(user_key), json=body)
        assert response.status_code == 201, (body, response.text)
        task = response.json()
        assert_fetch_ml("Task", task)
        created.append(task)
    ids = [task["id"] for task in created]

    # `args` as a string is split as a POSIX shell would, and the task shows the list.
    by_name = {task["job_name"]: task for task in created}
    assert by_name["train-args"]["args"] == ["--epochs", "10", "--lr", "0.001"]
    assert by_name["quoted_args"]["args"] == ["--name", "my run", "--tags", "a b", "--path", "/data/x y"]
    assert by_name["shell"]["args"] == []
    assert by_name["resources"]["memory_gb"] == 4 and isinstance(by_name["resources"]["memory_gb"], int)
    # Unset optional fields are absent, never null.
    assert "worker_id" not in by_name["train"] and "started_at" not in by_name["train"]

    for task_id in ids:
        fetched = await client.get(f"/v1/tasks/{task_id}", headers=auth(user_key))
        assert fetched.status_code == 200
        assert_fetch_ml("Task", fetched.json())

    # fetch_ml's list parameters: status (its enum), limit, offset.
    for params in ({}, {"status": "queued"}, {"limit": 2, "offset": 1}, {"status": "completed"}):
        listed = await client.get("/v1/tasks", headers=auth(user_key), params=params)
        assert listed.status_code == 200, listed.text
        page = listed.json()
        assert_fetch_ml("TaskList", page)
    everything = (await client.get("/v1/tasks", headers=auth(user_key), params={"limit": 50})).json()
    assert {task["id"] for task in everything["tasks"]} == set(ids)


@pytest.mark.parametrize(
    "body",
    [
        {"job_name": "only-a-name"},  # fetch_ml allows it; runplane needs something to run (422)
        {"job_name": "unclosed", "entrypoint": "train.py", "args": "--name 'my run"},
        {"job_name": "bad name!", "entrypoint": "train.py"},
        {"job_name": "cpu", "entrypoint": "train.py", "cpu": 0},
        # Datasets known to the server by name: runplane has no such catalog yet, so it refuses them
        # (422) rather than accept and ignore them; `dataset_specs` carries what a task needs.
        {"job_name": "data", "entrypoint": "train.py", "datasets": ["mnist", "cifar10"]},
    ],
)
async def test_fetch_ml_bodies_runplane_refuses_get_its_error_shape(client, user_key, body) -> None:
    response = await client.post("/v1/tasks", headers=auth(user_key), json=body)
    assert response.status_code in (400, 422), response.text
    assert_fetch_ml("ErrorResponse", response.json())


async def test_unknown_task_is_a_fetch_ml_not_found(client, user_key) -> None:
    response = await client.get("/v1/tasks/" + "0" * 32, headers=auth(user_key))
    assert response.status_code == 404
    assert_fetch_ml("ErrorResponse", response.json())
