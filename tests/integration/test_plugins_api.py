"""The tracking plugins' API on both databases: who may read and change configurations, write-only
secrets (in plugin configs and in a task's `plugin_configs`), the `plugin_configured` audit event, what a
claimed task gets from each plugin (an MLflow run created on a real `mlflow server` the test runs, in
remote mode), refused bodies that never quote a secret, and a real TensorBoard sidecar started, restarted
after it is killed, and stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import select

from runplane.plugins.sidecars import pid_alive, read_state
from runplane.settings import Settings
from runplane.store.database import Database
from runplane.store.tables import AuditEventRow, EventRow, PluginRow, TaskRow
from tests.conftest import auth
from tests.support.errors import assert_error
from tests.support.processes import stop_process_group
from tests.support.server import REPO_ROOT, free_port
from tests.support.waiting import poll
from tests.support.workers import claim, register, report

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

SECRET = "sk-plugin-SECRET-7f3e9a1b2c"
TASK_SECRET = "sk-task-SECRET-0d4c8e2f6a"


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, object]:
    # An empty directory first: `mlflow` (the server) is not installed for this test's server.
    (tmp_path / "nobin").mkdir(exist_ok=True)
    return {"reaper_seconds": 0, "plugin_poll_seconds": 0.5, "plugins_bin_dir": tmp_path / "nobin"}


class Seen:
    """Every response body the test received, to look for secrets in."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def add(self, response: httpx.Response) -> httpx.Response:
        self.bodies.append(response.text + json.dumps(dict(response.headers)))
        return response


async def put(client: httpx.AsyncClient, key: str, name: str, body: dict[str, Any]) -> httpx.Response:
    return await client.put(f"/v1/plugins/{name}/config", headers=auth(key), json=body)


async def test_plugins_are_listed_disabled_by_default_for_admins_and_users(
    client, admin_key, user_key, worker_key
):
    for key in (admin_key, user_key):
        response = await client.get("/v1/plugins", headers=auth(key))
        assert response.status_code == 200, response.text
        plugins = response.json()
        assert [p["name"] for p in plugins] == ["mlflow", "tensorboard", "wandb"]
        for plugin in plugins:
            assert plugin["enabled"] is False and plugin["requires_restart"] is False
            assert plugin["status"]["status"] == "stopped"
            assert plugin["config"]["secret_names"] == []
    one = await client.get("/v1/plugins/wandb", headers=auth(user_key))
    assert one.status_code == 200 and one.json()["mode"] == "remote"
    assert one.json()["config"]["settings"] == {"wandb_mode": "offline"}
    assert (await client.get("/v1/plugins", headers=auth(worker_key))).status_code == 403
    missing = await client.get("/v1/plugins/comet", headers=auth(user_key))
    assert_error(missing, 404, "NOT_FOUND", "Plugin not found", {"plugin": "comet"})
    health = await client.get("/v1/plugins/mlflow/health", headers=auth(user_key))
    assert health.status_code == 200
    assert health.json()["status"] == "stopped" and health.json()["timestamp"] == health.json()["last_check"]


async def test_only_admins_change_configs_and_invalid_ones_are_refused(client, admin_key, user_key):
    body = {"enabled": True, "mode": "remote", "settings": {"project": "p"}}
    assert (await put(client, user_key, "wandb", body)).status_code == 403
    assert (await client.delete("/v1/plugins/wandb/config", headers=auth(user_key))).status_code == 403
    cases: list[tuple[str, dict[str, Any], int]] = [
        ("comet", body, 404),
        ("wandb", {"mode": "sidecar"}, 422),
        ("wandb", {"settings": {"colour": "red"}}, 422),
        ("wandb", {"settings": {"wandb_mode": "sometimes"}}, 422),
        ("wandb", {"settings": {"project": 3}}, 422),
        ("wandb", {"image": "wandb/local"}, 422),
        ("mlflow", {"mode": "remote"}, 422),  # no tracking_uri
        ("mlflow", {"mode": "remote", "settings": {"tracking_uri": "ftp://x"}}, 422),
        ("tensorboard", {"settings": {"port": 70000}}, 422),
        ("wandb", {"secret_names": ["api_key"]}, 422),  # read-only
        ("wandb", {"enabled": "yes"}, 400),
        ("wandb", {"settings": {"project": "p", "api_key": "   "}}, 422),  # a blank secret
        # A URL is shown to every user: credentials in it are refused, they go in the secret settings.
        ("mlflow", {"mode": "remote", "settings": {"tracking_uri": "http://bob:pw@127.0.0.1:9"}}, 422),
    ]
    for name, case, status in cases:
        response = await put(client, admin_key, name, case)
        assert response.status_code == status, (name, case, response.text)
    # Sidecar mode needs the program: `mlflow` (the server, not mlflow-skinny's command) is not installed.
    response = await put(client, admin_key, "mlflow", {"mode": "sidecar", "settings": {"port": free_port()}})
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "CONFLICT" and "make install-plugins" in response.json()["error"]


async def test_secrets_are_write_only_kept_across_updates_and_never_audited(
    client, admin_key, user_key, settings: Settings
):
    seen = Seen()
    body = {"enabled": True, "mode": "remote", "settings": {"project": "vision", "api_key": SECRET}}
    response = seen.add(await put(client, admin_key, "wandb", body))
    assert response.status_code == 200, response.text
    plugin = response.json()
    assert plugin["config"] == {
        "enabled": True,
        "mode": "remote",
        "settings": {"project": "vision", "wandb_mode": "offline"},
        "secret_names": ["api_key"],
    }
    assert plugin["status"]["status"] == "healthy"
    # An update without the secret keeps it; null removes it.
    again = seen.add(await put(client, admin_key, "wandb", {"settings": {"project": "nlp"}}))
    assert again.json()["config"]["secret_names"] == ["api_key"]
    for path in ("/v1/plugins", "/v1/plugins/wandb", "/v1/plugins/wandb/config", "/v1/plugins/wandb/health"):
        for key in (admin_key, user_key):
            answer = seen.add(await client.get(path, headers=auth(key)))
            assert answer.status_code == 200, answer.text
    config = (await client.get("/v1/plugins/wandb/config", headers=auth(user_key))).json()
    assert config == {
        "enabled": True,
        "mode": "remote",
        "settings": {"project": "nlp", "wandb_mode": "offline"},
        "secret_names": ["api_key"],
    }
    online = seen.add(
        await put(
            client,
            admin_key,
            "wandb",
            {"settings": {"project": "p", "api_key": None, "wandb_mode": "online"}},
        )
    )
    assert online.json()["config"]["secret_names"] == []
    assert online.json()["status"] == {
        "name": "wandb",
        "status": "unhealthy",
        "last_check": online.json()["status"]["last_check"],
        "message": "online mode needs settings.api_key",
    }
    deleted = await client.delete("/v1/plugins/wandb/config", headers=auth(admin_key))
    assert deleted.status_code == 204
    after = (await client.get("/v1/plugins/wandb", headers=auth(admin_key))).json()
    assert after["enabled"] is False and after["config"]["secret_names"] == []

    events = seen.add(
        await client.get(
            "/v1/audit/events", headers=auth(admin_key), params={"event_type": "plugin_configured"}
        )
    )
    recorded = events.json()["events"]
    assert [(e["action"], e["resource"], e["user_id"]) for e in recorded] == [
        ("update", "plugin/wandb", "root"),
        ("update", "plugin/wandb", "root"),
        ("update", "plugin/wandb", "root"),
        ("delete", "plugin/wandb", "root"),
    ]
    assert recorded[0]["metadata"] == {
        "plugin": "wandb",
        "enabled": True,
        "mode": "remote",
        "settings": ["project"],
        "secret_names": ["api_key"],
    }
    verify = await client.post("/v1/audit/verify", headers=auth(admin_key))
    assert verify.json()["valid"] is True
    assert not any(SECRET in text for text in seen.bodies)
    db = Database(settings.sqlalchemy_url)
    try:
        async with db.reader() as session:
            audit_rows = (await session.scalars(select(AuditEventRow))).all()
            event_rows = (await session.scalars(select(EventRow))).all()
            assert await session.get(PluginRow, "wandb") is None  # forgotten, secret and all
    finally:
        await db.close()
    for row in audit_rows:
        assert SECRET not in json.dumps(row.metadata_) + str(row.error) + str(row.resource)
    for event in event_rows:
        assert SECRET not in json.dumps(event.data)


async def test_a_claimed_task_gets_each_plugins_env_secrets_dirs_and_status(
    client, admin_key, user_key, worker_key, settings: Settings
):
    seen = Seen()
    response = await put(
        client, admin_key, "wandb", {"settings": {"project": "vision", "entity": "lab", "api_key": SECRET}}
    )
    assert response.status_code == 200, response.text
    # A remote MLflow nobody answers at: the task still runs, its MLflow status says why.
    dead = f"http://127.0.0.1:{free_port()}"
    response = await put(client, admin_key, "mlflow", {"mode": "remote", "settings": {"tracking_uri": dead}})
    assert response.status_code == 200, response.text
    # Where the server sends its credentials is the server's to say, never a task's.
    redirect = {"mlflow": {"settings": {"tracking_uri": "http://127.0.0.1:9/"}}}
    refused = await client.post(
        "/v1/tasks",
        headers=auth(user_key),
        json={"job_name": "x", "entrypoint": "true", "plugin_configs": redirect},
    )
    assert refused.status_code == 422 and refused.json()["details"]["field"].endswith("tracking_uri")
    plugin_configs = {
        "mlflow": {"mode": "remote", "settings": {"token": TASK_SECRET}},
        "tensorboard": {},
    }
    created = seen.add(
        await client.post(
            "/v1/tasks",
            headers=auth(user_key),
            json={
                "job_name": "tracked",
                "entrypoint": "python train.py",
                "run_label": "lr-3",
                "plugin_configs": plugin_configs,
            },
        )
    )
    assert created.status_code == 201, created.text
    task = created.json()
    task_id = task["id"]
    # The task's own credential is one of its secrets (masked, erased when it ends), under MLflow's name.
    assert task["plugin_configs"] == {
        "mlflow": {"mode": "remote", "settings": {}, "secret_names": ["token"]},
        "tensorboard": {"settings": {}, "secret_names": []},
    }
    assert "plugin_status" not in task  # set up when a worker claims it
    worker_id = await register(client, worker_key)
    assignment = await claim(client, worker_key, worker_id)
    assert assignment is not None and assignment["task_id"] == task_id
    env, secrets = assignment["env"], assignment["secrets"]
    assert env["WANDB_PROJECT"] == "vision" and env["WANDB_ENTITY"] == "lab"
    assert env["WANDB_MODE"] == "offline" and env["WANDB_RUN_ID"] == task_id and env["WANDB_NAME"] == "lr-3"
    # The server's wandb key stays on the server: any user's task could read what it is given.
    assert "WANDB_API_KEY" not in secrets and "WANDB_API_KEY" not in env
    assert env["MLFLOW_TRACKING_URI"] == dead and env["MLFLOW_EXPERIMENT_NAME"] == "runplane"
    assert secrets["MLFLOW_TRACKING_TOKEN"] == TASK_SECRET and "MLFLOW_RUN_ID" not in env
    assert assignment["output_env"] == {"TENSORBOARD_LOGDIR": "tensorboard", "WANDB_DIR": "."}

    shown = seen.add(await client.get(f"/v1/tasks/{task_id}", headers=auth(user_key))).json()
    status = shown["plugin_status"]
    assert sorted(status) == ["mlflow", "tensorboard", "wandb"]
    assert status["mlflow"]["status"] == "unhealthy" and "ConnectError" in status["mlflow"]["message"]
    assert status["wandb"]["status"] == "healthy" and status["wandb"]["run_id"] == task_id
    assert status["tensorboard"]["status"] == "stopped"  # no sidecar configured: event files are artifacts
    for path in (f"/v1/tasks/{task_id}", "/v1/tasks", f"/v1/tasks/{task_id}/status"):
        seen.add(await client.get(path, headers=auth(user_key)))
    assert not any(SECRET in text or TASK_SECRET in text for text in seen.bodies)
    db = Database(settings.sqlalchemy_url)
    try:
        async with db.reader() as session:
            events = (await session.scalars(select(EventRow))).all()
            audit_rows = (await session.scalars(select(AuditEventRow))).all()
            row = await session.get(TaskRow, task_id)
    finally:
        await db.close()
    assert row is not None and row.plugin_status is not None
    assert row.secrets == {"MLFLOW_TRACKING_TOKEN": TASK_SECRET} and TASK_SECRET not in json.dumps(
        row.plugin_configs
    )
    assert {name: (v["status"], v.get("url")) for name, v in row.plugin_status.items()} == {
        name: (v["status"], v.get("url")) for name, v in status.items()
    }
    for text in [json.dumps(e.data) for e in events] + [json.dumps(a.metadata_) for a in audit_rows]:
        assert SECRET not in text and TASK_SECRET not in text


@pytest.mark.parametrize(
    ("plugin_configs", "field"),
    [
        ({"comet": {}}, "plugin_configs"),
        ({"mlflow": {"settings": {"port": 5001}}}, "plugin_configs.mlflow.settings.port"),
        ({"wandb": {"settings": {"api_key": 5}}}, "plugin_configs.wandb.settings.api_key"),
        ({"wandb": {"mode": "sidecar"}}, "mode"),
    ],
)
async def test_invalid_task_plugin_configs_are_422(client, user_key, plugin_configs, field):
    response = await client.post(
        "/v1/tasks",
        headers=auth(user_key),
        json={"job_name": "j", "entrypoint": "true", "plugin_configs": plugin_configs},
    )
    assert response.status_code == 422, response.text
    assert response.json()["details"]["field"] == field
    assert "5" not in response.json()["error"] or field != "plugin_configs.wandb.settings.api_key"


async def test_a_tensorboard_sidecar_is_started_restarted_and_stopped(client, admin_key, user_key, settings):
    port = free_port()
    response = await put(client, admin_key, "tensorboard", {"mode": "sidecar", "settings": {"port": port}})
    assert response.status_code == 200, response.text
    assert response.json()["status"]["status"] in ("starting", "healthy")
    assert response.json()["status"]["url"] == f"http://127.0.0.1:{port}"

    async def health() -> dict[str, Any]:
        answer = await client.get("/v1/plugins/tensorboard/health", headers=auth(user_key))
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    async def wait_for(status: str) -> dict[str, Any]:
        for _ in range(1200):
            found = await health()
            if found["status"] == status:
                return found
            await anyio.sleep(0.25)
        raise AssertionError(f"tensorboard never became {status}: {found}")

    healthy = await wait_for("healthy")
    assert healthy["message"].startswith("GET / answered 200") and healthy["version"]
    state_dir = settings.resolved_data_dir / "plugins"
    first = read_state(state_dir, "tensorboard")
    assert pid_alive(first["pid"])
    # It dies: the supervisor starts it again.
    os.killpg(first["pid"], signal.SIGKILL)
    await until(
        lambda: (
            read_state(state_dir, "tensorboard").get("restarts") == 1
            and pid_alive(read_state(state_dir, "tensorboard").get("pid"))
        ),
        what="a restart",
    )
    await wait_for("healthy")
    second = read_state(state_dir, "tensorboard")["pid"]
    # Disabled: stopped, process gone.
    assert (await client.delete("/v1/plugins/tensorboard/config", headers=auth(admin_key))).status_code == 204
    await until(
        lambda: not pid_alive(second) and "stopped" in read_state(state_dir, "tensorboard"),
        what="the sidecar to stop",
    )
    assert (await health())["status"] == "stopped"


async def until(check: Callable[[], Any], *, what: str) -> None:
    """Waits up to 3 minutes, without blocking the event loop the in-process server's supervisor runs on,
    for `check` (what: for the failure message)."""
    try:
        with anyio.fail_after(180):
            while not check():  # noqa: ASYNC110 - a condition on processes and files, no event to wait on
                await anyio.sleep(0.25)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@pytest.mark.parametrize(
    "body",
    [
        {"settings": {"api_key": SECRET}, "extra": 1},
        {"settings": {"api_key": SECRET, **{f"k{i}": "v" for i in range(64)}}},
        {"settings": {"api_key": SECRET}, "enabled": "yes"},
        {"settings": {"api_key": SECRET}, "mode": "cloud"},
        {"settings": {"api_key": SECRET, "project": 7}},
    ],
)
async def test_a_refused_config_never_echoes_its_secret(client, admin_key, body):
    for response in (
        await put(client, admin_key, "wandb", body),
        await client.post(
            "/v1/tasks",
            headers=auth(admin_key),
            json={"job_name": "j", "entrypoint": "true", "plugin_configs": {"wandb": body}},
        ),
    ):
        assert response.status_code in (400, 422), response.text
        assert SECRET not in response.text


async def test_a_refused_task_secret_is_never_echoed(client, user_key):
    for secrets in ({"TOKEN": SECRET * 200}, {f"S{i}": SECRET for i in range(65)}):
        response = await client.post(
            "/v1/tasks",
            headers=auth(user_key),
            json={"job_name": "j", "entrypoint": "true", "secrets": secrets},
        )
        assert response.status_code == 400, response.text
        assert SECRET not in response.text and response.json()["details"]["field"].startswith("secrets")


@pytest.fixture(scope="module")
def remote_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` started by the test (remote mode: runplane does not run it)."""
    program = REPO_ROOT / ".venv-plugins" / "bin" / "mlflow"
    if not program.is_file():
        pytest.fail("the MLflow server is not installed: run `make install-plugins` (.venv-plugins)")
    home = tmp_path_factory.mktemp("remote-mlflow")
    port = free_port()
    command = [str(program), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}"]
    command += ["--artifacts-destination", str(home / "artifacts")]
    with (home / "mlflow.log").open("wb") as log:
        process = subprocess.Popen(
            command, cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            pytest.fail(f"mlflow server exited:\n{(home / 'mlflow.log').read_text()[-3000:]}")
        try:
            return httpx.get(f"{url}/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        poll(up, timeout=300, what="the test's MLflow server to answer /health")
        yield url
    finally:
        stop_process_group(process, grace_seconds=20)


async def test_remote_mlflow_gets_a_run_for_the_claimed_task(
    client, admin_key, user_key, worker_key, remote_mlflow
):
    response = await put(
        client, admin_key, "mlflow",
        {"mode": "remote", "settings": {"tracking_uri": remote_mlflow, "experiment_name": "fleet"}},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["status"]["status"] == "healthy" and response.json()["version"]
    task_id = (
        await client.post(
            "/v1/tasks", headers=auth(user_key), json={"job_name": "remote-run", "entrypoint": "true"}
        )
    ).json()["id"]
    worker_id = await register(client, worker_key)
    assignment = await claim(client, worker_key, worker_id)
    assert assignment is not None and assignment["task_id"] == task_id
    env = assignment["env"]
    assert env["MLFLOW_TRACKING_URI"] == remote_mlflow and env["MLFLOW_EXPERIMENT_NAME"] == "fleet"
    status = (await client.get(f"/v1/tasks/{task_id}", headers=auth(user_key))).json()["plugin_status"]
    assert status["mlflow"]["status"] == "healthy" and status["mlflow"]["run_id"] == env["MLFLOW_RUN_ID"]
    async with httpx.AsyncClient(base_url=remote_mlflow, timeout=30) as mlflow:
        run = (await mlflow.get("/api/2.0/mlflow/runs/get", params={"run_id": env["MLFLOW_RUN_ID"]})).json()
        experiment = (
            await mlflow.get(
                "/api/2.0/mlflow/experiments/get",
                params={"experiment_id": run["run"]["info"]["experiment_id"]},
            )
        ).json()
    tags = {t["key"]: t["value"] for t in run["run"]["data"]["tags"]}
    assert tags["runplane.task_id"] == task_id and tags["runplane.user_id"] == "alice"
    assert run["run"]["info"]["run_name"] == "remote-run" and experiment["experiment"]["name"] == "fleet"
    # The task's server-side plugin set-up happens once: a second look changes nothing.
    again = (await client.get(f"/v1/tasks/{task_id}", headers=auth(user_key))).json()["plugin_status"]
    assert again["mlflow"]["run_id"] == env["MLFLOW_RUN_ID"]
    # The task ends: runplane ends its run (the task itself never did), and its plugin reads stopped.
    await _end_and_check_run(client, user_key, worker_key, worker_id, task_id, remote_mlflow, "completed")


async def _end_and_check_run(
    client: httpx.AsyncClient,
    user_key: str,
    worker_key: str,
    worker_id: str,
    task_id: str,
    mlflow_url: str,
    ending: str,
) -> None:
    """Ends the claimed task as `ending` (through running, and collecting for `completed`), waits for its
    MLflow plugin to read stopped, and checks the run's status and end time on the MLflow server."""
    expected = {"completed": "FINISHED", "failed": "FAILED", "cancelled": "KILLED"}[ending]
    steps = ["running", "collecting", ending] if ending == "completed" else ["running", ending]
    for step in steps:
        if step == "cancelled":  # the owner asks, the worker stops it and says so
            asked = await client.delete(f"/v1/tasks/{task_id}", headers=auth(user_key))
            assert asked.status_code == 202, asked.text
        body: dict[str, Any] = {"status": step}
        if step == "failed":
            body.update(exit_code=3, failure_reason="exit_code")
        answer = await report(client, worker_key, worker_id, task_id, **body)
        assert answer.status_code == 200, answer.text

    async def wound_up() -> dict[str, Any] | None:
        task = (await client.get(f"/v1/tasks/{task_id}", headers=auth(user_key))).json()
        return task if task["plugin_status"]["mlflow"]["status"] == "stopped" else None

    task = None
    for _ in range(600):  # the supervisor winds an ended task's plugins up on its next poll (0.5 s)
        if (task := await wound_up()) is not None:
            break
        await anyio.sleep(0.1)
    assert task is not None, "the task's MLflow plugin was not wound up within a minute"
    status = task["plugin_status"]["mlflow"]
    assert status["message"] == f"the task {ending}; MLflow run {expected}", status
    async with httpx.AsyncClient(base_url=mlflow_url, timeout=30) as mlflow:
        run = (await mlflow.get("/api/2.0/mlflow/runs/get", params={"run_id": status["run_id"]})).json()
    info = run["run"]["info"]
    assert info["status"] == expected, info
    ended_ms = datetime.fromisoformat(task["ended_at"]).timestamp() * 1000
    assert abs(int(info["end_time"]) - ended_ms) < 1000, (info, task["ended_at"])


@pytest.mark.parametrize("ending", ["failed", "cancelled"])
async def test_remote_mlflow_run_ends_as_the_task_ended(
    client, admin_key, user_key, worker_key, remote_mlflow, ending
):
    response = await put(
        client, admin_key, "mlflow", {"mode": "remote", "settings": {"tracking_uri": remote_mlflow}}
    )
    assert response.status_code == 200, response.text
    task_id = (
        await client.post(
            "/v1/tasks", headers=auth(user_key), json={"job_name": f"{ending}-run", "entrypoint": "false"}
        )
    ).json()["id"]
    worker_id = await register(client, worker_key)
    assignment = await claim(client, worker_key, worker_id)
    assert assignment is not None and assignment["task_id"] == task_id
    await _end_and_check_run(client, user_key, worker_key, worker_id, task_id, remote_mlflow, ending)
