"""The tracking plugins for real, on SQLite and PostgreSQL: a server (`runplane serve`) runs a real
`mlflow server` and `tensorboard` as sidecars (MLflow from .venv-plugins, `make install-plugins`), a real
worker agent runs a task that logs a metric with the `mlflow` client, writes a TensorBoard event file and a
W&B offline directory; the test reads the metric back from MLflow's REST API, finds the task's run in
TensorBoard, and looks for the plugin secrets in every answer, log, event, audit row and artifact (never
found). Stopping the server stops its sidecars."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from runplane.plugins.sidecars import pid_alive, read_state
from runplane.store.database import Database
from runplane.store.tables import AuditEventRow, EventRow, TaskRow
from tests.support.live import module_database
from tests.support.server import REPO_ROOT, free_port, running_server
from tests.support.snapshots import snapshot_archive
from tests.support.waiting import poll
from tests.support.worker_process import running_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLUGINS_BIN = REPO_ROOT / ".venv-plugins" / "bin"
SERVER_SECRET = "srv-mlflow-TOKEN-5a1d9c3e77"
TASK_SECRET = "task-wandb-KEY-8e2b4f6a19"

TRAIN = """
import json, os, pathlib, time

import mlflow
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

out = pathlib.Path(os.environ["RUNPLANE_OUTPUT_DIR"])
# Listed first: mlflow's end_run() removes MLFLOW_RUN_ID from the environment.
variables = sorted(k for k in os.environ if k.startswith(("WANDB_", "MLFLOW_", "TENSORBOARD_")))
(out / "variables.json").write_text(json.dumps(variables))
# Its own key as a secret; the server's MLflow token never reaches it (any user's code could read it).
print("keys", os.environ["WANDB_API_KEY"], "MLFLOW_TRACKING_TOKEN" in os.environ, flush=True)
with mlflow.start_run() as run:  # MLFLOW_RUN_ID: the run runplane created for this task
    mlflow.log_param("lr", "0.1")
    mlflow.log_metric("loss", 0.25, step=1)
    print("mlflow run", run.info.run_id, flush=True)

writer = EventFileWriter(os.environ["TENSORBOARD_LOGDIR"])
value = summary_pb2.Summary.Value(tag="loss", simple_value=0.25)
writer.add_event(event_pb2.Event(wall_time=time.time(), step=1, summary=summary_pb2.Summary(value=[value])))
writer.close()

names = ("WANDB_PROJECT", "WANDB_ENTITY", "WANDB_RUN_ID", "WANDB_NAME", "WANDB_MODE", "WANDB_DIR")
offline = pathlib.Path(os.environ["WANDB_DIR"]) / "wandb" / ("offline-run-" + os.environ["WANDB_RUN_ID"])
offline.mkdir(parents=True)
(offline / "settings.json").write_text(json.dumps({name: os.environ[name] for name in names}))
"""


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp(f"plugins-{request.param}")
    with module_database(request, root) as url:
        yield url, root


def test_tracking_plugins_for_a_real_task(database: tuple[str, Path]) -> None:
    if not (PLUGINS_BIN / "mlflow").is_file():
        pytest.fail("the MLflow server is not installed: run `make install-plugins` (.venv-plugins)")
    database_url, root = database
    env = {
        "RUNPLANE_DATABASE_URL": database_url,
        "RUNPLANE_PLUGINS_BIN_DIR": str(PLUGINS_BIN),
        "RUNPLANE_PLUGIN_POLL_SECONDS": "0.5",
        "RUNPLANE_RATE_LIMIT": "100000/minute",
    }
    seen: list[str] = []  # every response body and its headers

    def record(response: httpx.Response) -> None:
        response.read()
        seen.append(response.text + json.dumps(dict(response.headers)))

    mlflow_port, tensorboard_port = free_port(), free_port()
    mlflow_url = f"http://127.0.0.1:{mlflow_port}"
    data_dir = root / "server"
    # A Python start can take over a minute on a loaded 2-core machine.
    with running_server(data_dir, env=env, ready_timeout=180) as server:
        admin = {"X-API-Key": server.admin_key}
        http = httpx.Client(base_url=server.base_url, timeout=30, event_hooks={"response": [record]})
        keys = {}
        for role in ("worker", "user"):
            created = http.post("/v1/keys", headers=admin, json={"name": f"plugins-{role}", "role": role})
            assert created.status_code == 201, created.text
            keys[role] = created.json()["key"]
        user = {"X-API-Key": keys["user"]}

        configs = {
            "mlflow": {"mode": "sidecar", "settings": {"port": mlflow_port, "token": SERVER_SECRET}},
            "tensorboard": {"mode": "sidecar", "settings": {"port": tensorboard_port, "reload_interval": 1}},
            "wandb": {"mode": "remote", "settings": {"project": "vision", "entity": "lab"}},
        }
        for name, body in configs.items():
            response = http.put(f"/v1/plugins/{name}/config", headers=admin, json=body)
            assert response.status_code == 200, response.text
        assert http.get("/v1/plugins/mlflow/config", headers=user).json()["secret_names"] == ["token"]

        def healthy(name: str) -> bool:
            answer = http.get(f"/v1/plugins/{name}/health", headers=user)
            assert answer.status_code == 200, answer.text
            assert answer.json()["status"] in ("starting", "healthy"), answer.text
            return bool(answer.json()["status"] == "healthy")

        poll(lambda: healthy("mlflow"), timeout=300, what="the MLflow sidecar to answer /health")
        poll(lambda: healthy("tensorboard"), timeout=300, what="the TensorBoard sidecar to answer")
        assert httpx.get(f"{mlflow_url}/health", timeout=10).text.strip() == "OK"

        upload = http.post(
            "/v1/snapshots",
            headers={**user, "Content-Type": "application/gzip"},
            content=snapshot_archive({"train.py": TRAIN}),
        )
        assert upload.status_code == 201, upload.text
        experiment = http.post("/v1/experiments", headers=user, json={"name": "tracked-exp"})
        assert experiment.status_code == 201, experiment.text
        submitted = http.post(
            "/v1/tasks",
            headers=user,
            json={
                "job_name": "tracked",
                "entrypoint": "train.py",
                "snapshot_id": upload.json()["id"],
                "experiment_id": experiment.json()["id"],
                "plugin_configs": {"wandb": {"settings": {"api_key": TASK_SECRET}}},
            },
        )
        assert submitted.status_code == 201, submitted.text
        task_id = submitted.json()["id"]
        assert submitted.json()["plugin_configs"]["wandb"]["secret_names"] == ["api_key"]

        def registered(name: str) -> bool:
            rows = http.get("/v1/scheduler/workers", headers=admin, params={"limit": 1000}).json()["workers"]
            return any(w["name"] == name and w["status"] == "active" for w in rows)

        with running_worker(server.base_url, keys["worker"], root, name="w-plugins", registered=registered):
            ended = poll(
                lambda: (
                    (t := http.get(f"/v1/tasks/{task_id}", headers=user).json())["status"]
                    in ("completed", "failed", "cancelled")
                    and t
                ),
                timeout=300,
                what="the tracked task to end",
            )
        worker_log = (root / "w-plugins.log").read_text(errors="replace")
        logs = http.get(f"/v1/tasks/{task_id}/logs", headers=user)
        assert ended["status"] == "completed", (ended, logs.text, worker_log[-3000:])

        # Its plugins are wound up once it ended: each reads stopped, and its MLflow run is ended.
        def wound_up() -> dict[str, Any] | None:
            task: dict[str, Any] = http.get(f"/v1/tasks/{task_id}", headers=user).json()
            statuses = task["plugin_status"].values()
            return task if all(p["status"] == "stopped" for p in statuses) else None

        ended = poll(wound_up, timeout=60, what="the task's plugins to be wound up")
        # MLflow: the run runplane created, tagged with the task, holds the metric the task logged.
        status = ended["plugin_status"]
        assert sorted(status) == ["mlflow", "tensorboard", "wandb"]
        assert status["mlflow"]["message"] == "the task completed; MLflow run FINISHED", status
        run_id = status["mlflow"]["run_id"]
        assert f"mlflow run {run_id}" in logs.text
        run = httpx.get(f"{mlflow_url}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=30).json()
        metrics = {m["key"]: m["value"] for m in run["run"]["data"]["metrics"]}
        tags = {t["key"]: t["value"] for t in run["run"]["data"]["tags"]}
        assert metrics == {"loss": 0.25}
        assert run["run"]["info"]["status"] == "FINISHED" and run["run"]["info"]["end_time"]
        assert tags["runplane.task_id"] == task_id
        experiment_id = run["run"]["info"]["experiment_id"]
        found = httpx.get(
            f"{mlflow_url}/api/2.0/mlflow/experiments/get",
            params={"experiment_id": experiment_id},
            timeout=30,
        ).json()
        assert found["experiment"]["name"] == "tracked-exp"  # the task's experiment
        assert status["mlflow"]["url"] == f"{mlflow_url}/#/experiments/{experiment_id}/runs/{run_id}"

        # TensorBoard: the event file is an artifact, and the sidecar serves it as the task's run.
        artifacts = http.get(f"/v1/tasks/{task_id}/artifacts", headers=user).json()["artifacts"]
        paths = {a["path"] for a in artifacts}
        assert any(p.startswith("tensorboard/events.out.tfevents.") for p in paths), paths
        tensorboard_url = f"http://127.0.0.1:{tensorboard_port}"
        assert status["tensorboard"]["url"].startswith(tensorboard_url)
        poll(
            lambda: f"{task_id}/tensorboard" in httpx.get(f"{tensorboard_url}/data/runs", timeout=10).json(),
            timeout=120,
            what="TensorBoard to list the task's run",
        )

        # W&B: offline settings from the task, its directory inside the output (so an artifact).
        settings_path = f"wandb/offline-run-{task_id}/settings.json"
        assert settings_path in paths
        wandb_env = http.get(f"/v1/tasks/{task_id}/artifacts/{settings_path}", headers=user).json()
        assert wandb_env["WANDB_PROJECT"] == "vision" and wandb_env["WANDB_ENTITY"] == "lab"
        assert wandb_env["WANDB_RUN_ID"] == task_id and wandb_env["WANDB_NAME"] == "tracked"
        assert wandb_env["WANDB_MODE"] == "offline" and wandb_env["WANDB_DIR"].endswith("/output")
        variables = http.get(f"/v1/tasks/{task_id}/artifacts/variables.json", headers=user).json()
        assert {"WANDB_API_KEY", "MLFLOW_RUN_ID", "TENSORBOARD_LOGDIR"} <= set(variables)
        assert "MLFLOW_TRACKING_TOKEN" not in variables
        assert status["wandb"] == {**status["wandb"], "status": "stopped", "run_id": task_id}

        # Every artifact downloaded, every answer seen: no secret.
        for path in sorted(paths):
            http.get(f"/v1/tasks/{task_id}/artifacts/{path}", headers=user)
        for path in ("/v1/plugins", "/v1/plugins/mlflow", "/v1/plugins/wandb/config", f"/v1/tasks/{task_id}"):
            http.get(path, headers=admin)
        http.get("/v1/audit/events", headers=admin, params={"limit": 1000})
        sidecar_pids = [read_state(data_dir / "plugins", name)["pid"] for name in ("mlflow", "tensorboard")]
        assert all(pid_alive(pid) for pid in sidecar_pids)
        http.close()
    server_log = server.log()
    # The sidecars stop with the server.
    poll(lambda: not any(pid_alive(pid) for pid in sidecar_pids), timeout=60, what="the sidecars to stop")

    assert "keys " in logs.text and " False" in logs.text  # its own key printed (masked), no server token
    texts = {"responses": "\n".join(seen), "server log": server_log, "worker log": worker_log}
    texts.update(_database_texts(database_url, task_id))
    for path in (data_dir / "artifacts").rglob("*"):
        if path.is_file():
            texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    for where, text in texts.items():
        for secret in (SERVER_SECRET, TASK_SECRET):
            assert secret not in text, f"a plugin secret in {where}"


def _database_texts(database_url: str, task_id: str) -> dict[str, str]:
    async def read() -> dict[str, str]:
        db = Database(database_url)
        try:
            async with db.reader() as session:
                events = [json.dumps(data) for data in await session.scalars(select(EventRow.data))]
                audit = [
                    json.dumps([row.metadata_, row.error, row.resource, row.action])
                    for row in await session.scalars(select(AuditEventRow))
                ]
                task = await session.get(TaskRow, task_id)
                status = json.dumps(task.plugin_status if task else None)
        finally:
            await db.close()
        return {"events": "\n".join(events), "audit rows": "\n".join(audit), "task plugin_status": status}

    return asyncio.run(read())
