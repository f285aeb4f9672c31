"""The tasks API: submit, idempotency, redaction, tenancy, paging, cancel, priority, status."""

from __future__ import annotations

import pytest

from tests.conftest import auth
from tests.support.errors import assert_error
from tests.support.snapshots import snapshot_archive
from tests.support.worker_flow import FakeWorker

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


@pytest.mark.parametrize(
    ("field", "body", "message", "details"),
    [
        (
            "env",
            {"env": {"A=B": "x"}},
            "'env' has a name that is not a valid environment variable name: 'A=B' (use letters, digits "
            "and '_', not starting with a digit)",
            {"field": "env", "name": "A=B"},
        ),
        (
            "env",
            {"env": {"": "x"}},
            "'env' has a name that is not a valid environment variable name: '' (use letters, digits "
            "and '_', not starting with a digit)",
            {"field": "env", "name": ""},
        ),
        (
            "secrets",
            {"secrets": {"1TOKEN": "x-value"}},
            "'secrets' has a name that is not a valid environment variable name: '1TOKEN' (use letters, "
            "digits and '_', not starting with a digit)",
            {"field": "secrets", "name": "1TOKEN"},
        ),
        ("entrypoint", {"entrypoint": "python\u0000x.py"}, None, {"field": "entrypoint"}),
        ("args", {"args": ["ok", "a\u0000b"]}, None, {"field": "args.1"}),
        ("env", {"env": {"GOOD": "a\u0000b"}}, None, {"field": "env.GOOD"}),
        ("env", {"env": {"A\u0000": "x"}}, None, {"field": "env"}),
        ("secrets", {"secrets": {"TOKEN": "\u0000"}}, None, {"field": "secrets.TOKEN"}),
    ],
)
async def test_what_can_never_run_is_refused_at_submit(client, user_key, field, body, message, details):
    response = await client.post("/v1/tasks", headers=auth(user_key), json=simple_task(**body))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"] == details
    if message is not None:
        assert_error(response, 400, "VALIDATION_ERROR", message, details)
    listed = (await client.get("/v1/tasks", headers=auth(user_key))).json()
    assert listed["total"] == 0


async def test_posix_environment_names_are_accepted(client, user_key):
    env = {"_X": "1", "CUDA_HOME": "/usr/local/cuda", "a1": "x"}
    response = await client.post(
        "/v1/tasks", headers=auth(user_key), json=simple_task(env=env, secrets={"HF_TOKEN": "t-value"})
    )
    assert response.status_code == 201, response.text
    assert response.json()["env"] == env


async def test_named_datasets_are_refused_until_the_server_has_them(client, user_key):
    response = await client.post("/v1/tasks", headers=auth(user_key), json=simple_task(datasets=["imagenet"]))
    assert_error(
        response,
        422,
        "VALIDATION_ERROR",
        "Named datasets are not supported by this server; describe each dataset in 'dataset_specs' "
        "(source and sha256)",
        {"field": "datasets"},
    )
    empty = await client.post("/v1/tasks", headers=auth(user_key), json=simple_task(datasets=[]))
    assert empty.status_code == 201


@pytest.mark.parametrize(
    ("entrypoint", "script"),
    [("python missing.py", "missing.py"), ("./missing.sh", "missing.sh"), ("bash sub/x.sh", "sub/x.sh")],
)
async def test_an_entrypoint_script_missing_from_its_snapshot_is_refused(
    client, user_key, entrypoint, script
):
    uploaded = await client.post(
        "/v1/snapshots",
        headers={**auth(user_key), "content-type": "application/gzip"},
        content=snapshot_archive({"train.py": "print('hi')\n", "sub/run.sh": "echo hi\n"}),
    )
    snapshot_id = uploaded.json()["id"]
    refused = await client.post(
        "/v1/tasks", headers=auth(user_key), json=simple_task(entrypoint=entrypoint, snapshot_id=snapshot_id)
    )
    assert_error(
        refused,
        422,
        "VALIDATION_ERROR",
        f"The entrypoint runs '{script}', which is not in snapshot {snapshot_id}",
        {"field": "entrypoint", "script": script, "snapshot_id": snapshot_id},
    )
    for present in ("python ./train.py", "train.py --epochs 1", "sh sub/run.sh", "python -m http.server"):
        accepted = await client.post(
            "/v1/tasks", headers=auth(user_key), json=simple_task(entrypoint=present, snapshot_id=snapshot_id)
        )
        assert accepted.status_code == 201, (present, accepted.text)


@pytest.mark.parametrize(
    ("entrypoint", "args", "script"),
    [
        ("python", ["nothere.py"], "nothere.py"),
        ("python3", ["-u", "sub/nothere.py", "--lr", "0.1"], "sub/nothere.py"),
        ("bash", "-e missing.sh", "missing.sh"),
    ],
)
async def test_a_script_named_in_the_args_after_an_interpreter_must_be_in_the_snapshot(
    client, user_key, entrypoint, args, script
):
    uploaded = await client.post(
        "/v1/snapshots",
        headers={**auth(user_key), "content-type": "application/gzip"},
        content=snapshot_archive({"train.py": "print('hi')\n", "sub/run.sh": "echo hi\n"}),
    )
    snapshot_id = uploaded.json()["id"]
    refused = await client.post(
        "/v1/tasks",
        headers=auth(user_key),
        json=simple_task(entrypoint=entrypoint, args=args, snapshot_id=snapshot_id),
    )
    assert_error(
        refused,
        422,
        "VALIDATION_ERROR",
        f"The entrypoint runs '{script}', which is not in snapshot {snapshot_id}",
        {"field": "args", "script": script, "snapshot_id": snapshot_id},
    )
    for present, present_args in (
        ("python", ["train.py"]),
        ("python", ["-u", "./train.py", "--missing.py"]),
        ("sh", ["sub/run.sh"]),
        ("python", ["-m", "missing_module", "missing.py"]),
        ("python", ["-c", "print(1)"]),
    ):
        accepted = await client.post(
            "/v1/tasks",
            headers=auth(user_key),
            json=simple_task(entrypoint=present, args=present_args, snapshot_id=snapshot_id),
        )
        assert accepted.status_code == 201, (present, present_args, accepted.text)


async def test_answers_without_a_body_carry_no_content_type(client, user_key, worker_key):
    queued = (await client.post("/v1/tasks", headers=auth(user_key), json=simple_task())).json()
    cancelled = await client.delete(f"/v1/tasks/{queued['id']}", headers=auth(user_key))
    assert cancelled.status_code == 204
    assert "content-type" not in cancelled.headers
    assert cancelled.content == b""

    running = (await client.post("/v1/tasks", headers=auth(user_key), json=simple_task())).json()
    worker = await FakeWorker(client, worker_key).register()
    await worker.claim(running["id"])
    stopping = await client.delete(f"/v1/tasks/{running['id']}", headers=auth(user_key))
    assert stopping.status_code == 202
    assert "content-type" not in stopping.headers
    assert stopping.content == b""


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/tasks", simple_task(gpu=0, gpu_type="H100")),
        ("/v1/tasks", simple_task(gpu_type="H100")),  # gpu defaults to 0
        ("/v1/sweeps", {"task": simple_task(args=["{lr}"], gpu_type="H100"), "grid": {"lr": [0.1]}}),
        ("/v1/jupyter/services", {"name": "nb", "gpu": 0, "gpu_type": "H100"}),
    ],
)
async def test_a_gpu_type_without_a_gpu_is_refused(client, user_key, path, body):
    refused = await client.post(path, headers=auth(user_key), json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["details"]["field"].endswith("gpu_type")
    assert "'gpu_type' 'H100' needs 'gpu' of 1 or more" in refused.json()["error"]
    listed = await client.get("/v1/tasks", headers=auth(user_key))
    assert listed.json()["total"] == 0  # nothing was queued
    accepted = await client.post(
        "/v1/tasks", headers=auth(user_key), json=simple_task(gpu=1, gpu_type="H100")
    )
    assert accepted.status_code == 201, accepted.text
