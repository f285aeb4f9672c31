"""The Model Runner surface (seed 002): /api/models, /api/runs, its status words, results and errors."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update

from runplane.catalog import get_model
from runplane.catalog.__main__ import results_json
from runplane.runner_compat import DEFAULT_RUN_SEED
from runplane.settings import Settings
from runplane.store.database import Database
from runplane.store.tables import TaskRow
from tests.conftest import auth
from tests.support.errors import assert_error

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

SEED_INPUTS = {"region": "NA", "year": 2024, "parameter_set": "baseline"}


async def set_task(settings: Settings, task_id: str, **values: Any) -> None:
    """Puts a task into a state directly in the database (the worker side is tested elsewhere)."""
    db = Database(settings.sqlalchemy_url)
    try:
        async with db.session() as session:
            await session.execute(update(TaskRow).where(TaskRow.id == task_id).values(**values))
    finally:
        await db.close()


async def create_run(client, key: str, model_id: str = "linear_reg", inputs: dict | None = None) -> str:
    body = {"model_id": model_id, "inputs": SEED_INPUTS if inputs is None else inputs}
    response = await client.post("/api/runs", headers=auth(key), json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "queued"
    assert set(created) == {"run_id", "status"}
    run_id: str = created["run_id"]
    return run_id


async def test_models_in_the_seeds_shape(client, user_key):
    response = await client.get("/api/models", headers=auth(user_key))
    assert response.status_code == 200
    models = response.json()["models"]
    assert [{key: model[key] for key in ("id", "name", "params")} for model in models] == [
        {"id": "linear_reg", "name": "Linear Regression", "params": {"alpha": [0.1, 1.0, 10.0]}},
        {"id": "xgb_forecast", "name": "XGBoost Forecast", "params": {"max_depth": [3, 5, 7]}},
        {"id": "simulator", "name": "Monte Carlo Simulator", "params": {"trials": [100, 1000, 10000]}},
    ]
    # Grid values keep their own types on the wire: `3`, not `3.0`; `1.0` stays a float.
    assert [type(value) for value in models[1]["params"]["max_depth"]] == [int, int, int]
    assert [type(value) for value in models[0]["params"]["alpha"]] == [float, float, float]
    # Each model lists every input it reads, with what it does; the seed's own inputs are among them.
    for model in models:
        inputs = {item["name"]: item for item in model["inputs"]}
        assert set(inputs) == {*model["params"], "parameter_set", "region", "year", "seed"}
        assert all(item["description"] for item in model["inputs"])
        assert inputs["parameter_set"]["values"][0] == "baseline"
        for name, grid in model["params"].items():
            assert inputs[name]["values"] == grid


async def test_a_run_is_a_queued_model_task(client, user_key):
    run_id = await create_run(client, user_key)
    task = (await client.get(f"/v1/tasks/{run_id}", headers=auth(user_key))).json()
    assert task["job_name"] == "linear_reg-run"
    assert task["model_id"] == "linear_reg"
    assert task["inputs"] == SEED_INPUTS
    assert task["random_seed"] == DEFAULT_RUN_SEED
    assert task["user_id"] == "alice"
    assert "entrypoint" not in task


@pytest.mark.parametrize(("seed", "expected"), [(7, 7), (0, 0), (4294967295, 4294967295)])
async def test_the_seed_comes_from_inputs(client, user_key, seed, expected):
    run_id = await create_run(client, user_key, "simulator", {"trials": 100, "seed": seed})
    task = (await client.get(f"/v1/tasks/{run_id}", headers=auth(user_key))).json()
    assert task["random_seed"] == expected
    assert task["inputs"] == {"trials": 100}


@pytest.mark.parametrize("seed", [4294967296, -1, "7", 7.5, True, None])
async def test_a_seed_that_is_not_a_seed_is_422_not_replaced(client, user_key, seed):
    response = await client.post(
        "/api/runs", headers=auth(user_key), json={"model_id": "simulator", "inputs": {"seed": seed}}
    )
    assert response.status_code == 422, response.text
    assert response.json()["details"] == {"field": "inputs.seed"}


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"region": "NA", "colour": "red"}, "colour"),
        ({"parameter_set": "aggressive"}, "parameter_set"),
        ({"year": 20240}, "year"),
        ({"year": "last"}, "year"),
        ({"region": ""}, "region"),
        ({"region": 7}, "region"),
    ],
)
async def test_an_input_the_model_does_not_read_is_422(client, user_key, inputs, field):
    response = await client.post(
        "/api/runs", headers=auth(user_key), json={"model_id": "linear_reg", "inputs": inputs}
    )
    assert response.status_code == 422, response.text
    assert response.json()["details"]["field"] == f"inputs.{field}"
    listed = await client.get("/v1/tasks", headers=auth(user_key))
    assert listed.json()["total"] == 0


async def test_an_unknown_model_is_404(client, user_key):
    response = await client.post(
        "/api/runs", headers=auth(user_key), json={"model_id": "resnet", "inputs": {}}
    )
    assert_error(response, 404, "NOT_FOUND", "Model not found", {"model_id": "resnet"})
    listed = await client.get("/v1/tasks", headers=auth(user_key))
    assert listed.json()["total"] == 0


async def test_inputs_off_the_grid_are_422(client, user_key):
    response = await client.post(
        "/api/runs",
        headers=auth(user_key),
        json={"model_id": "xgb_forecast", "inputs": {"region": "EU", "max_depth": 4}},
    )
    assert_error(
        response,
        422,
        "VALIDATION_ERROR",
        "Invalid input 'max_depth': must be one of [3, 5, 7]; got 4",
        {"field": "inputs.max_depth", "errors": {"max_depth": "must be one of [3, 5, 7]; got 4"}},
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"inputs": {}}, "model_id"),
        ({"model_id": "linear_reg"}, "inputs"),
        ({"model_id": "linear_reg", "inputs": []}, "inputs"),
        ({"model_id": "linear_reg", "inputs": {}, "priority": 3}, "priority"),
    ],
)
async def test_a_malformed_body_is_400(client, user_key, body, field):
    response = await client.post("/api/runs", headers=auth(user_key), json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"] == {"field": field}


async def test_a_queued_run_status(client, user_key):
    run_id = await create_run(client, user_key)
    response = await client.get(f"/api/runs/{run_id}/status", headers=auth(user_key))
    assert response.status_code == 200
    status = response.json()
    task = (await client.get(f"/v1/tasks/{run_id}", headers=auth(user_key))).json()
    assert status == {
        "run_id": run_id,
        "status": "queued",
        "progress": 0,
        "message": "Queued",
        "updated_at": task["updated_at"],
    }


@pytest.mark.parametrize(
    ("task_status", "progress", "expected_status", "expected_progress"),
    [
        ("preparing", 0.0, "running", 0),
        ("running", 29.99, "running", 29),
        ("collecting", 99.9, "running", 99),
        ("completed", 100.0, "succeeded", 100),
    ],
)
async def test_statuses_in_the_seeds_words(
    client, user_key, settings, task_status, progress, expected_status, expected_progress
):
    run_id = await create_run(client, user_key)
    started = datetime(2025, 9, 5, 12, 34, 56, tzinfo=UTC)
    updated = datetime(2025, 9, 5, 12, 35, 10, tzinfo=UTC)
    await set_task(
        settings,
        run_id,
        status=task_status,
        progress=progress,
        message="Processing step 3/10",
        started_at=started,
        updated_at=updated,
    )
    response = await client.get(f"/api/runs/{run_id}/status", headers=auth(user_key))
    assert response.status_code == 200
    status = response.json()
    assert status["run_id"] == run_id
    assert status["status"] == expected_status
    assert status["progress"] == expected_progress
    assert status["message"] == "Processing step 3/10"
    assert datetime.fromisoformat(status["started_at"]) == started
    assert datetime.fromisoformat(status["updated_at"]) == updated


@pytest.mark.parametrize(
    ("task_status", "reason", "why"),
    [
        ("failed", "exit_code", "The task exited with code 1"),
        ("failed", "worker_lost", "The worker was lost"),
        ("cancelled", "cancelled", "Cancelled by alice"),
    ],
)
async def test_a_run_that_did_not_succeed_is_failed_and_says_why(
    client, user_key, settings, task_status, reason, why
):
    run_id = await create_run(client, user_key)
    await set_task(
        settings,
        run_id,
        status=task_status,
        progress=40.0,
        message="Ended",
        failure_reason=reason,
        failure_message=why,
    )
    status = (await client.get(f"/api/runs/{run_id}/status", headers=auth(user_key))).json()
    assert (status["status"], status["progress"], status["message"]) == ("failed", 40, why)
    results = await client.get(f"/api/runs/{run_id}/results", headers=auth(user_key))
    assert_error(
        results, 409, "CONFLICT", "Run failed and has no results", {"run_id": run_id, "status": "failed"}
    )


async def test_a_cancelled_queued_run_reads_failed(client, user_key):
    run_id = await create_run(client, user_key)
    assert (await client.delete(f"/v1/tasks/{run_id}", headers=auth(user_key))).status_code == 204
    status = (await client.get(f"/api/runs/{run_id}/status", headers=auth(user_key))).json()
    assert status["status"] == "failed"


@pytest.mark.parametrize(("task_status", "state"), [("queued", "queued"), ("running", "running")])
async def test_results_before_success_are_409(client, user_key, settings, task_status, state):
    run_id = await create_run(client, user_key)
    await set_task(settings, run_id, status=task_status)
    response = await client.get(f"/api/runs/{run_id}/results", headers=auth(user_key))
    assert_error(
        response, 409, "CONFLICT", "Run results are not ready yet", {"run_id": run_id, "status": state}
    )


@pytest.mark.parametrize("what", ["status", "results"])
async def test_an_unknown_run_is_404(client, user_key, what):
    response = await client.get(f"/api/runs/uuid-1234/{what}", headers=auth(user_key))
    assert_error(response, 404, "NOT_FOUND", "Run not found", {"run_id": "uuid-1234"})


@pytest.mark.parametrize("what", ["status", "results"])
async def test_another_users_run_is_404_and_an_admin_sees_it(
    client, user_key, other_user_key, admin_key, what
):
    run_id = await create_run(client, user_key)
    response = await client.get(f"/api/runs/{run_id}/{what}", headers=auth(other_user_key))
    assert_error(response, 404, "NOT_FOUND", "Run not found", {"run_id": run_id})
    admin = await client.get(f"/api/runs/{run_id}/{what}", headers=auth(admin_key))
    assert admin.status_code == (200 if what == "status" else 409)


@pytest.mark.parametrize("what", ["status", "results"])
async def test_a_task_that_is_not_a_model_run_is_not_a_run(client, user_key, what):
    task = await client.post(
        "/v1/tasks", headers=auth(user_key), json={"job_name": "plain", "entrypoint": "echo hi"}
    )
    task_id = task.json()["id"]
    response = await client.get(f"/api/runs/{task_id}/{what}", headers=auth(user_key))
    assert_error(response, 404, "NOT_FOUND", "Run not found", {"run_id": task_id})


async def test_runs_from_v1_tasks_are_runs_too(client, user_key):
    task = await client.post(
        "/v1/tasks",
        headers=auth(user_key),
        json={"job_name": "sim", "model_id": "simulator", "inputs": {"trials": 1000}},
    )
    status = await client.get(f"/api/runs/{task.json()['id']}/status", headers=auth(user_key))
    assert status.status_code == 200
    assert status.json()["status"] == "queued"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/models"),
        ("POST", "/api/runs"),
        ("GET", "/api/runs/abc/status"),
        ("GET", "/api/runs/abc/results"),
    ],
)
async def test_the_runner_surface_needs_a_user_key(client, worker_key, method, path):
    body = {"model_id": "linear_reg", "inputs": {}} if method == "POST" else None
    missing = await client.request(method, path, json=body)
    assert_error(missing, 401, "UNAUTHORIZED", "No authorization token provided")
    worker = await client.request(method, path, headers=auth(worker_key), json=body)
    assert_error(worker, 403, "FORBIDDEN", "This operation needs the admin or user role", {"role": "worker"})


class InProcessWorker:
    """Plays a worker agent over the worker operations, in process: claims, reports, uploads."""

    def __init__(self, client, key: str) -> None:
        self.client = client
        self.headers = auth(key)
        self.worker_id = ""

    async def register(self) -> None:
        registration = {
            "name": "fake-1",
            "hostname": "localhost",
            "version": "test",
            "slots": 1,
            "capabilities": {"cpu_cores": 4, "memory_gb": 8, "gpus": []},
        }
        response = await self.client.post("/v1/workers", headers=self.headers, json=registration)
        assert response.status_code == 201, response.text
        self.worker_id = response.json()["worker_id"]

    async def claim(self) -> dict[str, Any]:
        free = {"free_slots": 1, "free_cpu": 4, "free_memory_gb": 8, "free_gpus": 0}
        response = await self.client.post(
            f"/v1/workers/{self.worker_id}/claim", headers=self.headers, json=free
        )
        assert response.status_code == 200, response.text
        assignment: dict[str, Any] = response.json()["assignment"]
        return assignment

    async def report(self, task_id: str, **report: Any) -> None:
        response = await self.client.post(
            f"/v1/workers/{self.worker_id}/tasks/{task_id}/report", headers=self.headers, json=report
        )
        assert response.status_code == 200, response.text

    async def upload(self, task_id: str, path: str, data: bytes) -> None:
        response = await self.client.post(
            f"/v1/workers/{self.worker_id}/tasks/{task_id}/artifacts",
            headers={**self.headers, "Content-Type": "application/octet-stream"},
            params={"path": path, "sha256": hashlib.sha256(data).hexdigest()},
            content=data,
        )
        assert response.status_code == 201, response.text


async def test_a_run_through_its_life_ends_with_its_results(client, user_key, worker_key):
    run_id = await create_run(client, user_key, "simulator", {**SEED_INPUTS, "trials": 100, "seed": 11})
    worker = InProcessWorker(client, worker_key)
    await worker.register()
    assignment = await worker.claim()
    assert (assignment["task_id"], assignment["model_id"]) == (run_id, "simulator")
    assert assignment["random_seed"] == 11

    async def status() -> dict[str, Any]:
        response = await client.get(f"/api/runs/{run_id}/status", headers=auth(user_key))
        assert response.status_code == 200
        found: dict[str, Any] = response.json()
        return found

    await worker.report(run_id, status="preparing", message="Preparing")
    assert (await status())["status"] == "running"
    await worker.report(run_id, status="running", progress=37.5, message="trial 37/100")
    running = await status()
    assert (running["status"], running["progress"], running["message"]) == ("running", 37, "trial 37/100")
    assert running["started_at"] is not None
    not_ready = await client.get(f"/api/runs/{run_id}/results", headers=auth(user_key))
    assert_error(
        not_ready,
        409,
        "CONFLICT",
        "Run results are not ready yet",
        {"run_id": run_id, "status": "running"},
    )

    # What the catalog itself writes for this model, inputs and seed.
    spec = get_model("simulator")
    assert spec is not None
    result = spec.run(assignment["inputs"], assignment["random_seed"], lambda percent, message: None)
    document = results_json("simulator", assignment["random_seed"], result)
    await worker.report(run_id, status="collecting", progress=99)
    await worker.upload(run_id, "results.json", document.encode())
    await worker.report(run_id, status="completed", progress=100, message="done")

    done = await status()
    assert (done["status"], done["progress"]) == ("succeeded", 100)
    response = await client.get(f"/api/runs/{run_id}/results", headers=auth(user_key))
    assert response.status_code == 200
    expected = json.loads(document)
    assert response.json() == {"run_id": run_id, **expected}
    assert expected["summary"]["seed"] == 11 and len(expected["rows"]) == 60
    task_results = await client.get(f"/v1/tasks/{run_id}/results", headers=auth(user_key))
    assert task_results.json() == {"task_id": run_id, **expected}
