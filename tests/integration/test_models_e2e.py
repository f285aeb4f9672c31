"""Model runs for real: a server (`runplane serve`) and a worker agent (`runplane worker`) as processes.

Every catalog model runs to completion through `/v1/tasks` and through the Model Runner's `/api/runs`; the
same seed gives the same rows; and the seed's own end-to-end shell script (model_runner_e2e.sh) works
against the server with an X-API-Key header added. Every answer is checked against openapi.yaml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.openapi import validate_read
from tests.support.processes import stop_process_group
from tests.support.server import REPO_ROOT, RunningServer, running_server
from tests.support.waiting import poll

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODELS = ("linear_reg", "xgb_forecast", "simulator")
# Small grid values, so each run takes a few seconds at most; the scenario inputs are the seed's own.
INPUTS: dict[str, dict[str, Any]] = {
    "linear_reg": {"region": "NA", "year": 2024, "parameter_set": "baseline", "alpha": 1.0},
    "xgb_forecast": {"region": "EU", "year": 2025, "max_depth": 3},
    "simulator": {"region": "APAC", "year": 2024, "trials": 100},
}
RUN_DEADLINE = 120.0
SCRIPT = Path(__file__).with_name("model_runner_e2e.sh")
TERMINAL = {"completed", "failed", "cancelled"}


@dataclass
class Stack:
    server: RunningServer
    worker_log: Path
    http: httpx.Client
    user_key: str

    def user(self) -> dict[str, str]:
        return {"X-API-Key": self.user_key}

    def diagnostics(self) -> str:
        return f"--- worker log\n{self.worker_log.read_text(errors='replace')[-6000:]}"


def _start_worker(base_url: str, key: str, work_dir: Path, log_path: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "runplane.cli",
        "worker",
        "--api",
        base_url,
        "--name",
        "e2e-models",
        "--slots",
        "3",
        "--work-dir",
        str(work_dir),
    ]
    env = {**os.environ, "RUNPLANE_WORKER_KEY": key}
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("models-e2e")
    with (
        running_server(root / "server") as server,
        httpx.Client(base_url=server.base_url, timeout=30, event_hooks={"response": [validate_read]}) as http,
    ):
        admin = {"X-API-Key": server.admin_key}
        keys = {}
        for role in ("worker", "user"):
            created = http.post("/v1/keys", headers=admin, json={"name": f"e2e-{role}", "role": role})
            assert created.status_code == 201, created.text
            keys[role] = created.json()["key"]
        worker_log = root / "worker.log"
        worker = _start_worker(server.base_url, keys["worker"], root / "work", worker_log)
        stack = Stack(server, worker_log, http, keys["user"])
        try:

            def registered() -> bool:
                if worker.poll() is not None:
                    pytest.fail(f"the worker exited with {worker.returncode}\n{stack.diagnostics()}")
                listed = http.get("/v1/scheduler/workers", headers=admin).json()["workers"]
                return any(w["name"] == "e2e-models" and w["status"] == "active" for w in listed)

            poll(registered, timeout=60, what="the worker to register")
            yield stack
        finally:
            stop_process_group(worker)


def wait_for_task(stack: Stack, task_id: str) -> list[dict[str, Any]]:
    """Polls /v1/tasks/{id}/status until the task ends; every status report seen, in order."""
    seen: list[dict[str, Any]] = []

    def ended() -> bool:
        response = stack.http.get(f"/v1/tasks/{task_id}/status", headers=stack.user())
        assert response.status_code == 200, response.text
        seen.append(response.json())
        return seen[-1]["status"] in TERMINAL

    poll(ended, timeout=RUN_DEADLINE, what=f"task {task_id} to end\n{stack.diagnostics()}")
    return seen


def wait_for_run(stack: Stack, run_id: str) -> list[dict[str, Any]]:
    """Polls /api/runs/{id}/status until the run succeeded or failed; every status seen, in order."""
    seen: list[dict[str, Any]] = []

    def ended() -> bool:
        response = stack.http.get(f"/api/runs/{run_id}/status", headers=stack.user())
        assert response.status_code == 200, response.text
        seen.append(response.json())
        return seen[-1]["status"] in ("succeeded", "failed")

    poll(ended, timeout=RUN_DEADLINE, what=f"run {run_id} to end\n{stack.diagnostics()}")
    return seen


def submit_task(stack: Stack, model_id: str, inputs: dict[str, Any], seed: int) -> str:
    body = {"job_name": f"{model_id}-task", "model_id": model_id, "inputs": inputs, "random_seed": seed}
    response = stack.http.post("/v1/tasks", headers=stack.user(), json=body)
    assert response.status_code == 201, response.text
    task_id: str = response.json()["id"]
    return task_id


def submit_run(stack: Stack, model_id: str, inputs: dict[str, Any]) -> str:
    response = stack.http.post(
        "/api/runs", headers=stack.user(), json={"model_id": model_id, "inputs": inputs}
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "queued"
    run_id: str = response.json()["run_id"]
    return run_id


def in_order(seen: list[str], order: list[str]) -> bool:
    """True when the distinct statuses of ``seen`` appear in the order of ``order``."""
    positions = [order.index(status) for status in seen]
    return positions == sorted(positions)


@pytest.mark.parametrize("model_id", MODELS)
def test_a_model_runs_through_v1_tasks(stack, model_id):
    task_id = submit_task(stack, model_id, INPUTS[model_id], seed=5)
    seen = wait_for_task(stack, task_id)
    final = seen[-1]
    assert final["status"] == "completed", f"{final}\n{stack.diagnostics()}"
    assert final["progress"] == 100
    assert in_order(
        [report["status"] for report in seen],
        ["queued", "preparing", "running", "collecting", "completed"],
    )
    progress = [report["progress"] for report in seen]
    assert progress == sorted(progress)
    results = stack.http.get(f"/v1/tasks/{task_id}/results", headers=stack.user())
    assert results.status_code == 200
    document = results.json()
    assert document["task_id"] == task_id
    assert document["summary"]["model"] == model_id
    assert document["summary"]["seed"] == 5
    assert document["rows"]
    assert document["summary"]["rows"] == len(document["rows"])
    artifacts = stack.http.get(f"/v1/tasks/{task_id}/artifacts", headers=stack.user()).json()
    assert "results.json" in {artifact["path"] for artifact in artifacts["artifacts"]}


@pytest.mark.parametrize("model_id", MODELS)
def test_a_model_runs_through_api_runs(stack, model_id):
    run_id = submit_run(stack, model_id, INPUTS[model_id])
    seen = wait_for_run(stack, run_id)
    final = seen[-1]
    assert final["status"] == "succeeded", f"{final}\n{stack.diagnostics()}"
    assert final["progress"] == 100
    assert final["started_at"] is not None
    assert in_order([status["status"] for status in seen], ["queued", "running", "succeeded"])
    progress = [status["progress"] for status in seen]
    assert progress == sorted(progress)
    results = stack.http.get(f"/api/runs/{run_id}/results", headers=stack.user())
    assert results.status_code == 200
    document = results.json()
    assert set(document) == {"run_id", "summary", "rows"}
    assert document["run_id"] == run_id
    assert document["summary"]["model"] == model_id
    assert document["rows"]
    # The same results as the task's own: a run is a task.
    task_results = stack.http.get(f"/v1/tasks/{run_id}/results", headers=stack.user()).json()
    assert (task_results["summary"], task_results["rows"]) == (document["summary"], document["rows"])


def test_the_same_seed_gives_the_same_rows(stack):
    inputs = {**INPUTS["linear_reg"], "seed": 123}
    first, second = submit_run(stack, "linear_reg", inputs), submit_run(stack, "linear_reg", inputs)
    # The same computation through /v1/tasks, and one with another seed.
    as_task = submit_task(stack, "linear_reg", INPUTS["linear_reg"], seed=123)
    other_seed = submit_run(stack, "linear_reg", {**inputs, "seed": 124})
    for run_id in (first, second, as_task, other_seed):
        assert wait_for_run(stack, run_id)[-1]["status"] == "succeeded", stack.diagnostics()

    def results(run_id: str) -> dict[str, Any]:
        response = stack.http.get(f"/api/runs/{run_id}/results", headers=stack.user())
        assert response.status_code == 200
        found: dict[str, Any] = response.json()
        return found

    one, two, three, other = (results(run_id) for run_id in (first, second, as_task, other_seed))
    assert one["summary"]["seed"] == 123
    assert one["rows"] == two["rows"] == three["rows"]
    assert one["summary"] == two["summary"] == three["summary"]
    assert other["summary"]["seed"] == 124
    assert other["rows"] != one["rows"]


@pytest.mark.parametrize("json_tool", ["jq", "python3"])
def test_the_seeds_shell_script_works_with_a_key(stack, json_tool):
    env = {
        **os.environ,
        "BASE_URL": stack.server.base_url,
        "API_KEY": stack.user_key,
        "POLL_SECONDS": "0.2",
        "TIMEOUT_SECONDS": str(int(RUN_DEADLINE)),
    }
    if json_tool == "jq":
        if shutil.which("jq") is None:
            pytest.skip("jq is not installed (the python3 variant covers the script)")
    else:
        env["RUNPLANE_E2E_NO_JQ"] = "1"
    completed = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=RUN_DEADLINE + 30
    )
    output = completed.stdout
    assert completed.returncode == 0, f"{output}\n{completed.stderr}\n{stack.diagnostics()}"
    assert '"id": "linear_reg"' in output
    run_id = next(line for line in output.splitlines() if line.startswith("run_id="))[len("run_id=") :]
    assert output.rstrip().endswith("status=succeeded")
    results = stack.http.get(f"/api/runs/{run_id}/results", headers=stack.user()).json()
    assert f'"run_id": "{run_id}"' in output
    assert results["summary"]["model"] == "linear_reg"
    inputs = stack.http.get(f"/v1/tasks/{run_id}", headers=stack.user()).json()["inputs"]
    assert inputs == {"region": "NA", "year": 2024, "parameter_set": "baseline"}
