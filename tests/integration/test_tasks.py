"""The tasks API: submit, idempotency, redaction, tenancy, paging, cancel, priority, status."""

from __future__ import annotations

import pytest

from tests.conftest import auth
from tests.support.errors import assert_error
from tests.support.snapshots import snapshot_archive

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def simple_task(name: str = "train", **extra):
    return {"job_name": name, "entrypoint": "python train.py", "args": ["--epochs", "3"], **extra}


async def test_submit_returns_the_queued_task(client, user_key):
    response = await client.post("/v1/tasks", headers=auth(user_key), json=simple_task(priority=7, cpu=2))
    assert response.status_code == 201
    task = response.json()
    assert task["status"] == "queued"
    assert task["priority"] == 7
    assert task["priority_aged"] >= 7
    assert task["cpu"] == 2
    assert task["user_id"] == "alice"
    assert task["progress"] == 0
    # Unset optional fields are absent, never null.
    assert "failure" not in task and "worker_id" not in task and "started_at" not in task
    fetched = await client.get(f"/v1/tasks/{task['id']}", headers=auth(user_key))
    assert fetched.status_code == 200
    assert fetched.json()["id"] == task["id"]


async def test_secrets_are_write_only_and_secret_looking_values_redacted(client, user_key):
    body = simple_task(
        entrypoint="python train.py --api-key sk-live-123",
        args=["--token", "tok-999", "--epochs", "3", "https://bob:pw-777@data.example/x?sig=abc&n=1"],
        env={"HF_TOKEN": "hf-555", "MODE": "fast"},
        secrets={"WANDB_API_KEY": "wandb-888"},
    )
    response = await client.post("/v1/tasks", headers=auth(user_key), json=body)
    assert response.status_code == 201
    task = response.json()
    text = response.text
    for secret in ("sk-live-123", "tok-999", "pw-777", "hf-555", "wandb-888", "sig=abc"):
        assert secret not in text
    assert task["secret_names"] == ["WANDB_API_KEY"]
    assert "secrets" not in task
    assert task["env"] == {"HF_TOKEN": "<redacted>", "MODE": "fast"}
    assert task["args"][:4] == ["--token", "<redacted>", "--epochs", "3"]
    listed = await client.get("/v1/tasks", headers=auth(user_key))
    assert "wandb-888" not in listed.text and "tok-999" not in listed.text


async def test_idempotent_submission(client, user_key):
    headers = {**auth(user_key), "Idempotency-Key": "run-42"}
    first = await client.post("/v1/tasks", headers=headers, json=simple_task())
    again = await client.post("/v1/tasks", headers=headers, json=simple_task())
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    different = await client.post("/v1/tasks", headers=headers, json=simple_task(priority=9))
    assert_error(
        different,
        409,
        "CONFLICT",
        "This Idempotency-Key was used with a different request body",
        {"idempotency_key": "run-42", "task_id": first.json()["id"]},
    )
    listed = await client.get("/v1/tasks", headers=auth(user_key))
    assert listed.json()["total"] == 1


async def test_idempotency_keys_are_per_user(client, user_key, other_user_key):
    first = await client.post(
        "/v1/tasks", headers={**auth(user_key), "Idempotency-Key": "k"}, json=simple_task()
    )
    second = await client.post(
        "/v1/tasks", headers={**auth(other_user_key), "Idempotency-Key": "k"}, json=simple_task()
    )
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]


async def test_entrypoint_or_model_is_required(client, user_key):
    response = await client.post("/v1/tasks", headers=auth(user_key), json={"job_name": "nothing"})
    assert_error(
        response,
        422,
        "VALIDATION_ERROR",
        "Give exactly one of 'entrypoint' or 'model_id'",
        {"field": "entrypoint"},
    )


async def test_unknown_model_is_422(client, user_key):
    response = await client.post(
        "/v1/tasks", headers=auth(user_key), json={"job_name": "m", "model_id": "resnet"}
    )
    assert_error(response, 422, "VALIDATION_ERROR", "Unknown model 'resnet'", {"field": "model_id"})


async def test_model_inputs_are_checked_against_the_grid(client, user_key):
    ok = await client.post(
        "/v1/tasks",
        headers=auth(user_key),
        json={"job_name": "lr", "model_id": "linear_reg", "inputs": {"region": "NA", "alpha": 1.0}},
    )
    assert ok.status_code == 201
    assert ok.json()["model_id"] == "linear_reg"
    bad = await client.post(
        "/v1/tasks",
        headers=auth(user_key),
        json={"job_name": "lr", "model_id": "linear_reg", "inputs": {"alpha": 0.5}},
    )
    assert bad.status_code == 422
    assert bad.json()["details"]["field"] == "inputs.alpha"


async def test_a_user_sees_only_its_own_tasks(client, user_key, other_user_key, admin_key):
    mine = (await client.post("/v1/tasks", headers=auth(user_key), json=simple_task("mine"))).json()
    theirs = (await client.post("/v1/tasks", headers=auth(other_user_key), json=simple_task("theirs"))).json()
    hidden = await client.get(f"/v1/tasks/{theirs['id']}", headers=auth(user_key))
    assert_error(hidden, 404, "NOT_FOUND", "Task not found", {"task_id": theirs["id"]})
    cancel = await client.delete(f"/v1/tasks/{theirs['id']}", headers=auth(user_key))
    assert cancel.status_code == 404
    listed = await client.get("/v1/tasks", headers=auth(user_key))
    assert [task["id"] for task in listed.json()["tasks"]] == [mine["id"]]
    forbidden = await client.get("/v1/tasks?user_id=bob", headers=auth(user_key))
    assert forbidden.status_code == 403
    everyone = await client.get("/v1/tasks", headers=auth(admin_key))
    assert everyone.json()["total"] == 2
    bobs = await client.get("/v1/tasks?user_id=bob", headers=auth(admin_key))
    assert [task["id"] for task in bobs.json()["tasks"]] == [theirs["id"]]


async def test_paging_and_filters(client, user_key):
    ids = []
    for index in range(7):
        created = await client.post("/v1/tasks", headers=auth(user_key), json=simple_task(f"t{index}"))
        ids.append(created.json()["id"])
    first = (await client.get("/v1/tasks?limit=3&offset=0", headers=auth(user_key))).json()
    second = (await client.get("/v1/tasks?limit=3&offset=3", headers=auth(user_key))).json()
    last = (await client.get("/v1/tasks?limit=3&offset=6", headers=auth(user_key))).json()
    assert first["total"] == second["total"] == last["total"] == 7
    assert (first["limit"], first["offset"]) == (3, 0)
    seen = [t["id"] for page in (first, second, last) for t in page["tasks"]]
    assert seen == list(reversed(ids))
    await client.delete(f"/v1/tasks/{ids[0]}", headers=auth(user_key))
    cancelled = (await client.get("/v1/tasks?status=cancelled", headers=auth(user_key))).json()
    assert [t["id"] for t in cancelled["tasks"]] == [ids[0]] and cancelled["total"] == 1


async def test_cancel_a_queued_task(client, user_key):
    task = (await client.post("/v1/tasks", headers=auth(user_key), json=simple_task())).json()
    response = await client.delete(f"/v1/tasks/{task['id']}", headers=auth(user_key))
    assert response.status_code == 204
    status = (await client.get(f"/v1/tasks/{task['id']}/status", headers=auth(user_key))).json()
    assert status["status"] == "cancelled"
    assert status["failure"] == {
        "reason": "cancelled",
        "message": "Cancelled before it started",
        "cancelled_by": "alice",
    }
    assert status["ended_at"] is not None
    again = await client.delete(f"/v1/tasks/{task['id']}", headers=auth(user_key))
    assert_error(again, 409, "CONFLICT", "Task already cancelled", {"status": "cancelled"})


async def test_status_report(client, user_key):
    task = (await client.post("/v1/tasks", headers=auth(user_key), json=simple_task())).json()
    status = (await client.get(f"/v1/tasks/{task['id']}/status", headers=auth(user_key))).json()
    assert status["task_id"] == task["id"]
    assert (status["status"], status["progress"], status.get("started_at")) == ("queued", 0, None)
    assert "started_at" not in status and "message" in status


async def test_change_priority(client, user_key):
    task = (await client.post("/v1/tasks", headers=auth(user_key), json=simple_task(priority=2))).json()
    response = await client.patch(
        f"/v1/scheduler/jobs/{task['id']}/priority", headers=auth(user_key), json={"priority": 9}
    )
    assert response.status_code == 200
    assert response.json()["priority"] == 9
    await client.delete(f"/v1/tasks/{task['id']}", headers=auth(user_key))
    late = await client.patch(
        f"/v1/scheduler/jobs/{task['id']}/priority", headers=auth(user_key), json={"priority": 3}
    )
    assert_error(late, 409, "CONFLICT", "Only a queued task can change priority", {"status": "cancelled"})


async def test_queue_counts(client, user_key):
    for index in range(3):
        await client.post("/v1/tasks", headers=auth(user_key), json=simple_task(f"q{index}"))
    task = (await client.post("/v1/tasks", headers=auth(user_key), json=simple_task("c"))).json()
    await client.delete(f"/v1/tasks/{task['id']}", headers=auth(user_key))
    queue = (await client.get("/v1/queue", headers=auth(user_key))).json()
    assert (queue["queued"], queue["running"], queue["cancelled"], queue["completed"]) == (3, 0, 1, 0)


async def test_worker_keys_cannot_use_user_operations(client, worker_key):
    response = await client.get("/v1/tasks", headers=auth(worker_key))
    assert_error(
        response, 403, "FORBIDDEN", "This operation needs the admin or user role", {"role": "worker"}
    )


async def test_only_the_owner_may_run_a_snapshot(client, user_key, other_user_key):
    uploaded = await client.post(
        "/v1/snapshots",
        headers={**auth(other_user_key), "content-type": "application/gzip"},
        content=snapshot_archive({"train.py": "print('hi')\n"}),
    )
    assert uploaded.status_code == 201
    theirs = uploaded.json()["id"]
    refused = await client.post("/v1/tasks", headers=auth(user_key), json=simple_task(snapshot_id=theirs))
    assert_error(refused, 422, "VALIDATION_ERROR", "Unknown snapshot", {"field": "snapshot_id"})
    accepted = await client.post(
        "/v1/tasks", headers=auth(other_user_key), json=simple_task(snapshot_id=theirs)
    )
    assert accepted.status_code == 201
    assert accepted.json()["snapshot_id"] == theirs
