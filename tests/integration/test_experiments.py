"""Experiments: create, list, get, update, tenancy, and task counts."""

from __future__ import annotations

import pytest

from tests.conftest import auth
from tests.support.errors import assert_error

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def test_experiment_lifecycle(client, user_key, other_user_key):
    created = await client.post(
        "/v1/experiments",
        headers=auth(user_key),
        json={
            "name": "baseline",
            "description": "first try",
            "commit_id": "abc123",
            "metadata": {"team": "x"},
        },
    )
    assert created.status_code == 201
    experiment = created.json()
    assert (experiment["status"], experiment["task_count"], experiment["user_id"]) == ("active", 0, "alice")

    task = await client.post(
        "/v1/tasks",
        headers=auth(user_key),
        json={"job_name": "t", "entrypoint": "true", "experiment_id": experiment["id"]},
    )
    assert task.status_code == 201
    fetched = (await client.get(f"/v1/experiments/{experiment['id']}", headers=auth(user_key))).json()
    assert fetched["task_count"] == 1
    by_experiment = await client.get(f"/v1/tasks?experiment_id={experiment['id']}", headers=auth(user_key))
    assert by_experiment.json()["total"] == 1

    updated = await client.patch(
        f"/v1/experiments/{experiment['id']}", headers=auth(user_key), json={"status": "archived"}
    )
    assert updated.json()["status"] == "archived" and updated.json()["name"] == "baseline"
    archived = await client.get("/v1/experiments?status=archived", headers=auth(user_key))
    assert archived.json()["total"] == 1

    hidden = await client.get(f"/v1/experiments/{experiment['id']}", headers=auth(other_user_key))
    assert_error(hidden, 404, "NOT_FOUND", "Experiment not found", {"experiment_id": experiment["id"]})
    foreign = await client.post(
        "/v1/tasks",
        headers=auth(other_user_key),
        json={"job_name": "t", "entrypoint": "true", "experiment_id": experiment["id"]},
    )
    assert_error(foreign, 422, "VALIDATION_ERROR", "Unknown experiment", {"field": "experiment_id"})
    assert (await client.get("/v1/experiments", headers=auth(other_user_key))).json()["total"] == 0


async def test_an_empty_update_is_rejected(client, user_key):
    experiment = (await client.post("/v1/experiments", headers=auth(user_key), json={"name": "e"})).json()
    response = await client.patch(f"/v1/experiments/{experiment['id']}", headers=auth(user_key), json={})
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


async def test_a_deleted_experiment_takes_no_new_tasks(client, user_key):
    experiment = (await client.post("/v1/experiments", headers=auth(user_key), json={"name": "gone"})).json()
    deleted = await client.patch(
        f"/v1/experiments/{experiment['id']}", headers=auth(user_key), json={"status": "deleted"}
    )
    assert deleted.status_code == 200, deleted.text
    body = {"job_name": "t", "entrypoint": "true", "experiment_id": experiment["id"]}
    refused = await client.post("/v1/tasks", headers=auth(user_key), json=body)
    assert_error(
        refused,
        422,
        "VALIDATION_ERROR",
        f"Experiment {experiment['id']} is deleted; it takes no new tasks",
        {"field": "experiment_id", "status": "deleted"},
    )
    sweep = await client.post(
        "/v1/sweeps",
        headers=auth(user_key),
        json={"task": {**body, "args": ["{x}"]}, "grid": {"x": [1, 2]}},
    )
    assert sweep.status_code == 422, sweep.text
    fetched = (await client.get(f"/v1/experiments/{experiment['id']}", headers=auth(user_key))).json()
    assert fetched["task_count"] == 0
    # An archived one still takes tasks (it is kept, only listed apart).
    await client.patch(
        f"/v1/experiments/{experiment['id']}", headers=auth(user_key), json={"status": "archived"}
    )
    assert (await client.post("/v1/tasks", headers=auth(user_key), json=body)).status_code == 201
