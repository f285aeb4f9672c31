"""Tasks run for real: a server (`runplane serve`) and worker agents (`runplane worker`) as processes.

One server per backend (short leases: RUNPLANE_LEASE_SECONDS=3, RUNPLANE_HEARTBEAT_SECONDS=0.5, a reaper
every 0.5 s, fast aging); each test starts the workers it needs and stops them. Every wait is a poll with a
deadline; every answer is checked against openapi.yaml.

The run, the lost worker, the priority order and the missing entrypoint script run on SQLite and
PostgreSQL (claims, leases and the reaper are SQL). Cancel/timeout/memory, the GPU wait and the drain run on SQLite only, to keep the file
near two minutes: what they add over tests/integration/test_workers_api.py (which covers those server
paths on both backends) is the worker's side, which does not depend on the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from runplane.store.database import Database
from runplane.store.tables import EventRow
from tests.support.live import module_database
from tests.support.openapi import validate_read
from tests.support.server import REPO_ROOT, RunningServer, free_port, running_server
from tests.support.snapshots import snapshot_archive
from tests.support.task_user import default_task_user
from tests.support.waiting import poll

pytestmark = pytest.mark.integration

LEASE_SECONDS = 3
SERVER_ENV = {
    "RUNPLANE_LEASE_SECONDS": str(LEASE_SECONDS),
    "RUNPLANE_HEARTBEAT_SECONDS": "0.5",
    "RUNPLANE_REAPER_SECONDS": "0.5",
    # One priority point a second, at most 5: visible within a test, never enough to flip 2 vs 9.
    "RUNPLANE_AGING_RATE": "60",
    "RUNPLANE_RATE_LIMIT": "100000/minute",
}
TERMINAL = {"completed", "failed", "cancelled"}


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-8000:]


@dataclass
class Stack:
    server: RunningServer
    root: Path
    http: httpx.Client
    user_key: str
    worker_key: str
    database_url: str
    backend: str

    def sqlite_only(self) -> None:
        if self.backend != "sqlite":
            pytest.skip("worker-side behaviour: run on SQLite (test_workers_api covers the server on both)")

    @property
    def user(self) -> dict[str, str]:
        return {"X-API-Key": self.user_key}

    @property
    def admin(self) -> dict[str, str]:
        return {"X-API-Key": self.server.admin_key}

    def submit(self, **body: Any) -> str:
        response = self.http.post("/v1/tasks", headers=self.user, json={"job_name": "job", **body})
        assert response.status_code == 201, response.text
        task_id: str = response.json()["id"]
        return task_id

    def upload(self, files: dict[str, str]) -> str:
        response = self.http.post(
            "/v1/snapshots",
            headers={**self.user, "Content-Type": "application/gzip"},
            content=snapshot_archive(files),
        )
        assert response.status_code == 201, response.text
        snapshot_id: str = response.json()["id"]
        return snapshot_id

    def task(self, task_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/tasks/{task_id}", headers=self.user)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def status(self, task_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/tasks/{task_id}/status", headers=self.user)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def wait_status(self, task_id: str, statuses: set[str], *, timeout: float = 30) -> dict[str, Any]:
        found: dict[str, Any] = poll(
            lambda: (s := self.status(task_id))["status"] in statuses and s,
            timeout=timeout,
            what=f"task {task_id} to be {sorted(statuses)}",
        )
        return found

    def events(self, task_id: str, topic: str) -> list[dict[str, Any]]:
        """The scheduler's event rows for the task, oldest first (read from the server's database)."""

        async def read() -> list[dict[str, Any]]:
            db = Database(self.database_url)
            try:
                async with db.reader() as session:
                    rows = await session.scalars(
                        select(EventRow.data)
                        .where(EventRow.task_id == task_id, EventRow.topic == topic)
                        .order_by(EventRow.id)
                    )
                    return [dict(data) for data in rows]
            finally:
                await db.close()

        return asyncio.run(read())

    def worker_rows(self) -> list[dict[str, Any]]:
        response = self.http.get("/v1/scheduler/workers", headers=self.admin, params={"limit": 1000})
        assert response.status_code == 200, response.text
        workers: list[dict[str, Any]] = response.json()["workers"]
        return workers

    @contextmanager
    def workers(
        self, *names: str, slots: int = 2, extra: list[str] | None = None
    ) -> Iterator[list[WorkerProcess]]:
        """``runplane worker`` processes, registered and active; stopped (SIGTERM) afterwards."""
        started: list[WorkerProcess] = []
        try:
            for name in names:
                log_path = self.root / f"{name}.log"
                command = [sys.executable, "-m", "runplane.cli", "worker", "--api", self.server.base_url]
                command += ["--name", name, "--slots", str(slots), "--work-dir", str(self.root / name)]
                command += ["--grace-seconds", "1", *(extra or [])]
                # The key travels in a private file (the documented way), never the environment.
                key_file = self.root / f"{name}.key"
                key_file.touch(mode=0o600)
                key_file.write_text(self.worker_key)
                command += ["--key-file", str(key_file)]
                # The worker's own default task user (tests/conftest.py sets the tests' user).
                env = default_task_user(os.environ)
                with log_path.open("wb") as log:
                    process = subprocess.Popen(
                        command,
                        cwd=REPO_ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                started.append(WorkerProcess(name, process, log_path))
            for worker in started:

                def registered(worker: WorkerProcess = worker) -> bool:
                    if worker.process.poll() is not None:
                        pytest.fail(
                            f"worker {worker.name} exited with {worker.process.returncode}:\n{worker.log()}"
                        )
                    return any(
                        w["name"] == worker.name and w["status"] == "active" for w in self.worker_rows()
                    )

                poll(registered, timeout=30, what=f"worker {worker.name} to register")
            yield started
        finally:
            for worker in started:
                if worker.process.poll() is None:
                    worker.process.send_signal(signal.SIGTERM)
            for worker in started:
                try:
                    worker.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.process.kill()
                    worker.process.wait()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp(f"execution-{request.param}")
    with (
        module_database(request, root) as database_url,
        running_server(root / "server", env={**SERVER_ENV, "RUNPLANE_DATABASE_URL": database_url}) as server,
        httpx.Client(base_url=server.base_url, timeout=30, event_hooks={"response": [validate_read]}) as http,
    ):
        admin = {"X-API-Key": server.admin_key}
        keys = {}
        for role in ("worker", "user"):
            created = http.post("/v1/keys", headers=admin, json={"name": f"exec-{role}", "role": role})
            assert created.status_code == 201, created.text
            keys[role] = created.json()["key"]
        yield Stack(server, root, http, keys["user"], keys["worker"], database_url, request.param)


def pid_file_of(stack: Stack, name: str) -> Path:
    return stack.root / f"{name}.pid"


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def pgid_from(path: Path) -> int:
    text = poll(
        lambda: path.exists() and path.read_text().strip(), timeout=30, what=f"{path.name} to be written"
    )
    return int(text.split()[1])


# -- a whole run --------------------------------------------------------------------------------------

TRAIN = """
    import json, os, pathlib, sys, time
    from runplane.task import progress

    out = pathlib.Path(os.environ["RUNPLANE_OUTPUT_DIR"])
    print("training with token", os.environ["API_TOKEN"])
    print("seed", os.environ.get("RUNPLANE_RANDOM_SEED"), "attempt", os.environ["RUNPLANE_ATTEMPT"])
    print("warning: stderr works too", file=sys.stderr)
    losses = []
    for epoch in range(1, 6):
        time.sleep(0.3)
        losses.append(1.0 / epoch)
        progress(epoch * 20, f"epoch {epoch}/5")
        print(f"epoch {epoch} loss {losses[-1]:.3f}")
    (out / "plots").mkdir(exist_ok=True)
    (out / "plots" / "loss.csv").write_text("epoch,loss\\n" + "".join(f"{i},{l}\\n" for i, l in enumerate(losses, 1)))
    (out / "model.bin").write_bytes(bytes(range(256)) * 64)
    (out / "notes.txt").write_text("done\\n")
    results = {"summary": {"final_loss": losses[-1], "epochs": 5}, "rows": [{"epoch": i, "loss": l} for i, l in enumerate(losses, 1)]}
    (out / "results.json").write_text(json.dumps(results))
"""


@pytest.mark.slow
def test_a_snapshot_runs_with_progress_logs_artifacts_results_and_run_identity(stack: Stack) -> None:
    snapshot_id = stack.upload({"train.py": TRAIN})
    secret = "tok-very-secret-4242"
    task_id = stack.submit(
        entrypoint="train.py",
        snapshot_id=snapshot_id,
        secrets={"API_TOKEN": secret},
        env={"MODE": "test"},
        random_seed=7,
        run_label="e2e",
    )
    # Before any worker runs it: queued, and no results yet.
    early = stack.http.get(f"/v1/tasks/{task_id}/results", headers=stack.user)
    assert early.status_code == 409, early.text
    assert early.json()["code"] == "CONFLICT"
    with stack.workers("w-e2e"):
        seen: list[str] = []
        progress: list[float] = []
        results_while_running: list[int] = []

        def ended() -> bool:
            status = stack.status(task_id)
            if not seen or seen[-1] != status["status"]:
                seen.append(status["status"])
            progress.append(status["progress"])
            if status["status"] == "running" and not results_while_running:
                results_while_running.append(
                    stack.http.get(f"/v1/tasks/{task_id}/results", headers=stack.user).status_code
                )
            return status["status"] in TERMINAL

        poll(ended, timeout=60, what="the task to end", interval=0.02)
    final = stack.status(task_id)
    assert final["status"] == "completed", final
    # What the scheduler recorded, every transition in order.
    assert [e["status"] for e in stack.events(task_id, "task_update")] == [
        "queued",
        "preparing",
        "running",
        "collecting",
        "completed",
    ]
    # What a client polling the status saw: a subsequence of that order, and running among it.
    order = ["queued", "preparing", "running", "collecting", "completed"]
    assert seen == sorted(seen, key=order.index) and "running" in seen and seen[-1] == "completed"
    assert progress == sorted(progress) and progress[-1] == 100
    assert any(0 < p < 100 for p in progress), progress
    reported = [
        e["progress"] for e in stack.events(task_id, "task_progress") if e.get("progress") is not None
    ]
    # Throttled progress reports along the way (the completion report carries the 100).
    assert reported == sorted(reported) and any(0 < p < 100 for p in reported), reported
    assert results_while_running == [409]

    logs = stack.http.get(f"/v1/tasks/{task_id}/logs", headers=stack.user)
    assert logs.status_code == 200
    assert "training with token ***" in logs.text
    assert secret not in logs.text
    assert "seed 7 attempt 1" in logs.text
    assert "warning: stderr works too" in logs.text
    assert "epoch 5 loss 0.200" in logs.text

    listed = stack.http.get(f"/v1/tasks/{task_id}/artifacts", headers=stack.user).json()["artifacts"]
    paths = {a["path"] for a in listed}
    assert {"plots/loss.csv", "model.bin", "notes.txt", "results.json", "run.json"} <= paths
    for artifact in listed:
        body = stack.http.get(f"/v1/tasks/{task_id}/artifacts/{artifact['path']}", headers=stack.user)
        assert body.status_code == 200, artifact
        assert hashlib.sha256(body.content).hexdigest() == artifact["sha256"]
        assert len(body.content) == artifact["size"]
    model = stack.http.get(f"/v1/tasks/{task_id}/artifacts/model.bin", headers=stack.user)
    assert model.content == bytes(range(256)) * 64

    results = stack.http.get(f"/v1/tasks/{task_id}/results", headers=stack.user)
    assert results.status_code == 200, results.text
    assert results.json()["summary"] == {"final_loss": 0.2, "epochs": 5}
    assert len(results.json()["rows"]) == 5

    run = stack.http.get(f"/v1/tasks/{task_id}/run", headers=stack.user)
    assert run.status_code == 200
    run_json = stack.http.get(f"/v1/tasks/{task_id}/artifacts/run.json", headers=stack.user)
    assert json.loads(run_json.content) == run.json()
    identity = run.json()
    assert (identity["task_id"], identity["attempt"], identity["random_seed"], identity["run_label"]) == (
        task_id,
        1,
        7,
        "e2e",
    )
    assert secret not in run_json.text


# -- cancel, timeout, memory --------------------------------------------------------------------------

SLEEPER = """
    import os, pathlib, sys, time
    pathlib.Path(sys.argv[1]).write_text(f"{os.getpid()} {os.getpgid(0)}")
    print("sleeping", flush=True)
    time.sleep(120)
"""


@pytest.mark.slow
def test_cancel_timeout_and_memory_limit_end_tasks_with_their_reasons(stack: Stack) -> None:
    stack.sqlite_only()
    pid_file = pid_file_of(stack, "cancel")
    snapshot_id = stack.upload({"sleeper.py": SLEEPER})
    with stack.workers("w-limits", slots=3):
        cancelled = stack.submit(entrypoint="sleeper.py", args=[str(pid_file)], snapshot_id=snapshot_id)
        timed_out = stack.submit(entrypoint="sleep 60", timeout_seconds=1)
        hungry = stack.submit(
            entrypoint="python -c 'b = bytearray(512 * 2**20); import time; time.sleep(30)'", memory_gb=0.125
        )
        pgid = pgid_from(pid_file)
        # The agent reports `running` once the process has run its start-report delay (issue 11).
        stack.wait_status(cancelled, {"running"})
        assert not group_gone(pgid)
        response = stack.http.delete(f"/v1/tasks/{cancelled}", headers=stack.user)
        assert response.status_code == 202, response.text  # accepted: the worker stops it
        ended = stack.wait_status(cancelled, TERMINAL)
        assert ended["status"] == "cancelled"
        assert ended["failure"]["reason"] == "cancelled"
        poll(lambda: group_gone(pgid), timeout=10, what="the cancelled task's process group to be gone")

        failed = stack.wait_status(timed_out, TERMINAL)
        assert failed["status"] == "failed"
        assert failed["failure"]["reason"] == "timeout"

        failed = stack.wait_status(hungry, TERMINAL)
        assert failed["status"] == "failed"
        assert failed["failure"]["reason"] == "out_of_memory"

        exit_code = stack.submit(entrypoint="/bin/sh -c 'echo bye; exit 3'")
        failed = stack.wait_status(exit_code, TERMINAL)
        assert failed["failure"]["reason"] == "exit_code" and failed["failure"]["exit_code"] == 3


@pytest.mark.slow
def test_a_script_missing_from_the_code_fails_as_entrypoint_not_found(stack: Stack) -> None:
    snapshot_id = stack.upload({"train.py": "print('hi')\n"})
    with stack.workers("w-missing"):
        # Without a snapshot the server cannot know at submit; the worker tells it apart from a crash, the
        # same whether the script is in the entrypoint or is the interpreter's first argument.
        for form in (
            {"entrypoint": "python missing.py"},
            {"entrypoint": "python", "args": ["missing.py"]},
            {"entrypoint": "python -u", "args": ["./missing.py", "--epochs", "3"]},
            {"entrypoint": "bash", "args": ["missing.sh"]},
        ):
            missing = stack.submit(**form)
            failed = stack.wait_status(missing, TERMINAL)
            assert failed["status"] == "failed", form
            assert failed["failure"]["reason"] == "entrypoint_not_found", (form, failed["failure"])
            script = "missing.sh" if form["entrypoint"] == "bash" else "missing.py"
            assert (
                failed["failure"]["message"] == f"the entrypoint script {script!r} is not in the task's code"
            )
        present = stack.submit(entrypoint="python train.py", snapshot_id=snapshot_id)
        assert stack.wait_status(present, TERMINAL)["status"] == "completed"


# -- a worker that dies -------------------------------------------------------------------------------

DIE_ON_FIRST_ATTEMPT = """
    import os, pathlib, sys, time
    if os.environ["RUNPLANE_ATTEMPT"] == "1":
        pathlib.Path(sys.argv[1]).write_text(f"{os.getpid()} {os.getpgid(0)}")
        time.sleep(120)
    print("attempt", os.environ["RUNPLANE_ATTEMPT"], "done")
"""


@pytest.mark.slow
def test_a_killed_worker_s_task_runs_again_elsewhere_or_fails_worker_lost(stack: Stack) -> None:
    snapshot_id = stack.upload({"task.py": DIE_ON_FIRST_ATTEMPT})
    with stack.workers("w-kill-a", "w-kill-b", slots=1) as workers:
        by_name = {worker.name: worker for worker in workers}

        def kill_the_runner(task_id: str, pid_file: Path) -> WorkerProcess:
            pgid = pgid_from(pid_file)
            worker_id = stack.task(task_id)["worker_id"]
            name = next(w["name"] for w in stack.worker_rows() if w["id"] == worker_id)
            victim = by_name[name]
            victim.process.send_signal(signal.SIGKILL)
            victim.process.wait(timeout=10)
            # The task's processes die with their worker, even a SIGKILLed one.
            poll(lambda: group_gone(pgid), timeout=10, what="the dead worker's task processes to be gone")
            return victim

        retried_pid = pid_file_of(stack, "retried")
        retried = stack.submit(
            entrypoint="task.py", args=[str(retried_pid)], snapshot_id=snapshot_id, max_retries=1
        )
        victim = kill_the_runner(retried, retried_pid)
        ended = stack.wait_status(retried, TERMINAL, timeout=LEASE_SECONDS + 30)
        assert ended["status"] == "completed", ended
        task = stack.task(retried)
        assert task["retry_count"] == 1
        survivor = next(w for w in workers if w is not victim)
        assert any(w["id"] == task["worker_id"] and w["name"] == survivor.name for w in stack.worker_rows())
        run = stack.http.get(f"/v1/tasks/{retried}/run", headers=stack.user).json()
        assert run["attempt"] == 2
        assert "attempt 2 done" in stack.http.get(f"/v1/tasks/{retried}/logs", headers=stack.user).text

        lost_pid = pid_file_of(stack, "lost")
        lost = stack.submit(
            entrypoint="task.py", args=[str(lost_pid)], snapshot_id=snapshot_id, max_retries=0
        )
        kill_the_runner(lost, lost_pid)
        ended = stack.wait_status(lost, TERMINAL, timeout=LEASE_SECONDS + 30)
        assert ended["status"] == "failed"
        assert ended["failure"]["reason"] == "worker_lost"
        assert stack.task(lost)["retry_count"] == 0


# -- scheduling ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_with_one_busy_slot_the_high_priority_task_runs_first(stack: Stack, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    blocker_pid = pid_file_of(stack, "blocker")
    blocker_code = f"""
        import os, pathlib, time
        pathlib.Path({str(blocker_pid)!r}).write_text(f"{{os.getpid()}} {{os.getpgid(0)}}")
        while not pathlib.Path({str(gate)!r}).exists():
            time.sleep(0.05)
    """
    snapshot_id = stack.upload({"blocker.py": blocker_code})
    with stack.workers("w-prio", slots=1):
        blocker = stack.submit(entrypoint="blocker.py", snapshot_id=snapshot_id, priority=5)
        pgid_from(blocker_pid)
        low = stack.submit(entrypoint="true", priority=2)
        high = stack.submit(entrypoint="true", priority=9)
        first_aged = stack.task(low)["priority_aged"]
        time.sleep(1.2)
        assert stack.task(low)["status"] == "queued"
        assert stack.task(low)["priority_aged"] > first_aged
        gate.touch()
        for task_id in (blocker, low, high):
            assert stack.wait_status(task_id, TERMINAL)["status"] == "completed"
        high_started = stack.task(high)["started_at"]
        low_started = stack.task(low)["started_at"]
        assert high_started < low_started, (high_started, low_started)


@pytest.mark.slow
def test_a_gpu_task_waits_with_a_reason_when_no_worker_has_a_gpu(stack: Stack) -> None:
    stack.sqlite_only()
    with stack.workers("w-cpu-only", slots=1, extra=["--gpus", "0"]):
        task_id = stack.submit(entrypoint="nvidia-smi", gpu=1)
        status = poll(
            lambda: (s := stack.status(task_id))["message"] and "GPU" in s["message"] and s,
            timeout=15,
            what="a waiting reason",
        )
        assert status["status"] == "queued"
        assert status["message"].startswith("Waiting:"), status
        time.sleep(1)
        assert stack.status(task_id)["status"] == "queued"
        assert stack.http.delete(f"/v1/tasks/{task_id}", headers=stack.user).status_code == 204


@pytest.mark.slow
def test_a_drained_worker_finishes_its_task_takes_nothing_new_and_exits(stack: Stack, tmp_path: Path) -> None:
    stack.sqlite_only()
    with stack.workers("w-drain", slots=1) as (worker,):
        running = stack.submit(entrypoint="/bin/sh -c 'sleep 1.5; echo finished'")
        stack.wait_status(running, {"running"})
        worker_id = stack.task(running)["worker_id"]
        assert stack.http.delete(f"/v1/scheduler/workers/{worker_id}", headers=stack.admin).status_code == 204
        waiting = stack.submit(entrypoint="true")
        assert stack.wait_status(running, TERMINAL)["status"] == "completed"
        assert worker.process.wait(timeout=30) == 0, worker.log()
        assert stack.status(waiting)["status"] == "queued"
        assert stack.http.delete(f"/v1/tasks/{waiting}", headers=stack.user).status_code == 204


# -- `runplane up` ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_up_serves_the_api_and_a_local_worker_and_stops_both(tmp_path: Path) -> None:
    port = free_port()
    admin_key = "rp_test-up-" + os.urandom(8).hex()
    env = {
        **os.environ,
        "RUNPLANE_DATA_DIR": str(tmp_path / "var"),
        "RUNPLANE_ADMIN_KEY": admin_key,
        "RUNPLANE_HEARTBEAT_SECONDS": "0.5",
        # The killed worker stays `active` until its lease ends (30 s by default) and the reaper sees it:
        # a short lease keeps the wait for its replacement to seconds, with room for a loaded machine.
        "RUNPLANE_LEASE_SECONDS": "5",
        "RUNPLANE_REAPER_SECONDS": "0.5",
    }
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "runplane.cli", "up", "--port", str(port), "--workers", "1"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    admin = {"X-API-Key": admin_key}
    try:
        with httpx.Client(base_url=base, timeout=30) as http:

            def local_worker() -> dict[str, Any] | None:
                if up.poll() is not None:
                    pytest.fail(f"`up` exited with {up.returncode}:\n{log_path.read_text()}")
                try:
                    listed = http.get("/v1/scheduler/workers", headers=admin).json()["workers"]
                except (httpx.HTTPError, ValueError, KeyError):
                    return None
                return next(
                    (w for w in listed if w["name"] == "local-worker" and w["status"] == "active"), None
                )

            # Bounds a failure only: `up` starts a server and a worker, >60 s on a loaded 2-core machine.
            first_worker = poll(local_worker, timeout=180, what="the local worker to register")
            created = http.post(
                "/v1/tasks",
                headers=admin,
                json={"job_name": "model", "model_id": "linear_reg", "inputs": {}, "random_seed": 1},
            )
            assert created.status_code == 201, created.text
            task_id = created.json()["id"]
            poll(
                lambda: http.get(f"/v1/tasks/{task_id}/status", headers=admin).json()["status"] in TERMINAL,
                timeout=180,
                what="the model run to end",
            )
            assert http.get(f"/v1/tasks/{task_id}/status", headers=admin).json()["status"] == "completed"
            # The worker's key is neither in its environment (/proc/<pid>/environ) nor on its command line
            # (which `ps` shows): it came on a pipe.
            children = _children(up.pid)
            assert children, "no child processes of `up`"
            workers = []
            for pid in children:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                assert "rp_" not in cmdline, cmdline
                if "runplane.worker" in cmdline:
                    workers.append(Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"))
            assert len(workers) == 1
            names = {item.split(b"=", 1)[0] for item in workers[0]}
            assert b"RUNPLANE_WORKER_API" in names and b"RUNPLANE_WORKER_KEY" not in names
            # The server's own settings stay with the server.
            assert b"RUNPLANE_ADMIN_KEY" not in names and b"RUNPLANE_DATA_DIR" not in names
            keys = http.get("/v1/keys", headers=admin, params={"limit": 1000}).json()["keys"]
            assert [
                k["role"] for k in keys if k["name"] == "local-worker" and k.get("revoked_at") is None
            ] == ["worker"]
            # `up` supervises its worker: killed, it is restarted, and a task submitted afterwards runs.
            (worker_pid,) = [
                pid
                for pid in children
                if b"runplane.worker" in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            ]
            os.kill(worker_pid, signal.SIGKILL)

            def replaced() -> bool:
                # The server may still hold a long-poll claim of the killed worker until its lease ends; a
                # task queued before then could be handed to it. Submit once a new worker serves alone.
                listed = http.get("/v1/scheduler/workers", headers=admin).json()["workers"]
                active = [w["id"] for w in listed if w["name"] == "local-worker" and w["status"] == "active"]
                return bool(active) and first_worker["id"] not in active

            poll(replaced, timeout=90, what="the restarted local worker to replace the killed one")
            again = http.post(
                "/v1/tasks",
                headers=admin,
                json={"job_name": "again", "model_id": "linear_reg", "inputs": {}, "random_seed": 2},
            )
            assert again.status_code == 201, again.text
            again_id = again.json()["id"]
            poll(
                lambda: http.get(f"/v1/tasks/{again_id}/status", headers=admin).json()["status"] in TERMINAL,
                timeout=90,
                what="the task submitted after the worker was killed to end",
            )
            ended = http.get(f"/v1/tasks/{again_id}", headers=admin).json()
            assert ended["status"] == "completed", (ended, log_path.read_text())
    finally:
        children = _children(up.pid)
        up.send_signal(signal.SIGTERM)
        code = up.wait(timeout=90)
    assert code == 0, log_path.read_text()
    # The console is for a person: the banner, then one line per task transition, no per-request lines
    # (the worker polled and heartbeated, the test polled the status, all through access-logged requests).
    console = log_path.read_text()
    assert f"runplane is ready at {base}" in console and f"{base}/dashboard" in console, console
    assert "the one in RUNPLANE_ADMIN_KEY" in console and admin_key not in console
    # The lost-admin-key command reaches this server's database from anywhere.
    database = (tmp_path / "var" / "runplane.sqlite3").resolve()
    assert (
        f"keys create --role admin --name admin-2 --local --database-url 'sqlite+aiosqlite:///{database}'"
        in console
    )
    assert "the local worker exited with -9; restarting it in 1s (restart 1)\n" in console, console
    assert f"task {task_id} (model): queued\n" in console, console
    assert f"task {task_id} (model): collecting → completed after " in console, console
    for noise in ("GET /v1/", "POST /v1/workers", '"level":', "Adding spec", "Context impl"):
        assert noise not in console, (noise, console)
    # Both the worker and the server are gone.
    poll(
        lambda: not any(Path(f"/proc/{pid}").exists() for pid in children),
        timeout=10,
        what="children to exit",
    )


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_up_replaces_the_local_worker_key(tmp_path: Path) -> None:
    from runplane.cli import LOCAL_WORKER_NAME, _local_worker_key
    from runplane.security import hash_key
    from runplane.settings import Settings
    from runplane.store.database import Database, migrate
    from runplane.store.keys import KeyStore

    settings = Settings(data_dir=tmp_path)
    migrate(settings.sqlalchemy_url)
    first = asyncio.run(_local_worker_key(settings))
    second = asyncio.run(_local_worker_key(settings))
    assert first != second

    async def active(secret: str) -> bool:
        db = Database(settings.sqlalchemy_url)
        try:
            row = await KeyStore(db).find_active(hash_key(secret))
            return row is not None and row.name == LOCAL_WORKER_NAME and row.role == "worker"
        finally:
            await db.close()

    assert asyncio.run(active(second))
    assert not asyncio.run(active(first))
