"""A task on a root worker runs as `nobody` and can read neither the agent's environment or descriptors,
nor the worker's key file, nor the server's database (`runplane up` and `runplane worker --key-file`).

Both run a shell task: this machine's Python lives under root-only /root, which `nobody` cannot run (the
README's security section says what that leaves).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.server import REPO_ROOT, free_port, running_server
from tests.support.task_user import RUNS_AS_ROOT, default_task_user, reachable_dir
from tests.support.waiting import poll

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not RUNS_AS_ROOT, reason="only a root worker switches users"),
]

# Finds the agent (shim -> fork server -> agent) and tries everything a thief would.
PROBE = r"""
echo "uid=$(id -u)"
shim=$PPID; server=$(cut -d' ' -f4 /proc/$shim/stat); agent=$(cut -d' ' -f4 /proc/$server/stat)
cat /proc/$agent/environ >/dev/null 2>&1 && echo LEAK-agent-environ || echo safe-agent-environ
ls /proc/$agent/fd >/dev/null 2>&1 && echo LEAK-agent-fd || echo safe-agent-fd
cat /proc/$agent/mem >/dev/null 2>&1 && echo LEAK-agent-mem || echo safe-agent-mem
for p in /proc/[0-9]*; do tr '\0' '\n' < $p/environ 2>/dev/null; done | grep -q RUNPLANE_WORKER_KEY && echo LEAK-some-environ || echo safe-environs
head -c 16 "$PROBE_DB" >/dev/null 2>&1 && echo LEAK-db || echo safe-db
[ -z "$PROBE_KEY_FILE" ] || { cat "$PROBE_KEY_FILE" >/dev/null 2>&1 && echo LEAK-key-file || echo safe-key-file; }
"""


def run_probe(http: httpx.Client, admin: dict[str, str], env: dict[str, str]) -> list[str]:
    created = http.post(
        "/v1/tasks",
        headers=admin,
        json={"job_name": "probe", "entrypoint": "/bin/sh -c " + _quote(PROBE), "env": env},
    )
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    poll(
        lambda: (
            http.get(f"/v1/tasks/{task_id}/status", headers=admin).json()["status"]
            in ("completed", "failed", "cancelled")
        ),
        timeout=120,
        what="the probe task to end",
    )
    log = http.get(f"/v1/tasks/{task_id}/logs", headers=admin).text
    return [line.split("] ", 1)[-1].strip() for line in log.splitlines()]


def _quote(script: str) -> str:
    return "'" + script.replace("'", "'\"'\"'") + "'"


def assert_isolated(lines: list[str], *, key_file: bool) -> None:
    text = "\n".join(lines)
    assert "uid=65534" in text or f"uid={_nobody_uid()}" in text, text
    assert "LEAK" not in text, text
    expected = ["safe-agent-environ", "safe-agent-fd", "safe-agent-mem", "safe-environs", "safe-db"]
    for word in expected + (["safe-key-file"] if key_file else []):
        assert word in text, (word, text)


def _nobody_uid() -> int:
    import pwd

    return pwd.getpwnam("nobody").pw_uid


@contextmanager
def _up(root: Path) -> Iterator[tuple[str, str]]:
    port = free_port()
    admin_key = "rp_test-iso-" + os.urandom(8).hex()
    env = {
        **default_task_user(os.environ),
        # This machine's Python is out of nobody's reach, so the default would stay root (and warn).
        "RUNPLANE_WORKER_TASK_USER": "nobody",
        "RUNPLANE_DATA_DIR": str(root / "var"),
        "RUNPLANE_ADMIN_KEY": admin_key,
        "RUNPLANE_HEARTBEAT_SECONDS": "0.5",
    }
    with (root / "up.log").open("wb") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "runplane.cli", "up", "--port", str(port), "--workers", "1"],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield f"http://127.0.0.1:{port}", admin_key
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=90)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """Not pytest's (see `reachable_dir`): a directory tasks run as `nobody` can enter."""
    with reachable_dir() as path:
        yield path


def test_a_task_under_up_reaches_neither_the_key_nor_the_database(tmp_path: Path) -> None:
    with _up(tmp_path) as (base, admin_key), httpx.Client(base_url=base, timeout=30) as http:
        admin = {"X-API-Key": admin_key}

        def local_worker_active() -> bool:
            try:
                listed = http.get("/v1/scheduler/workers", headers=admin).json()["workers"]
            except (httpx.TransportError, ValueError, KeyError):
                return False
            return any(w["name"] == "local-worker" and w["status"] == "active" for w in listed)

        poll(local_worker_active, timeout=300, what="the local worker to register")
        database = tmp_path / "var" / "runplane.sqlite3"
        assert database.exists()
        lines = run_probe(http, admin, {"PROBE_DB": str(database)})
    assert_isolated(lines, key_file=False)
    assert (tmp_path / "var").stat().st_mode & 0o777 == 0o700


def test_a_task_reaches_neither_the_key_file_nor_the_agent(tmp_path: Path) -> None:
    with (
        running_server(tmp_path / "server") as server,
        httpx.Client(base_url=server.base_url, timeout=30) as http,
    ):
        admin = {"X-API-Key": server.admin_key}
        created = http.post("/v1/keys", headers=admin, json={"name": "iso-worker", "role": "worker"})
        assert created.status_code == 201, created.text
        key_file = tmp_path / "worker.key"
        key_file.touch(mode=0o600)
        key_file.write_text(created.json()["key"])
        command = [sys.executable, "-m", "runplane.cli", "worker", "--api", server.base_url, "--name", "iso"]
        command += [
            "--work-dir",
            str(tmp_path / "work"),
            "--key-file",
            str(key_file),
            "--task-user",
            "nobody",
        ]
        with (tmp_path / "worker.log").open("wb") as log:
            worker = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=default_task_user(os.environ),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            poll(
                lambda: any(
                    w["name"] == "iso" and w["status"] == "active"
                    for w in http.get("/v1/scheduler/workers", headers=admin).json()["workers"]
                ),
                timeout=120,
                what="the worker to register",
            )
            database = tmp_path / "server" / "runplane.sqlite3"
            lines = run_probe(http, admin, {"PROBE_DB": str(database), "PROBE_KEY_FILE": str(key_file)})
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
    assert_isolated(lines, key_file=True)
