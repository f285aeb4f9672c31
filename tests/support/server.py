"""A real runplane server in a subprocess (`runplane serve`, gunicorn + uvicorn workers), as users run it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.processes import stop_process_group

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    admin_key: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def running_server(
    data_dir: Path, *, workers: int = 1, env: dict[str, str] | None = None, ready_timeout: float = 180.0
) -> Iterator[RunningServer]:
    """`runplane serve` on a free port with `data_dir` and `env`, ready (/readyz 200) when yielded.

    `ready_timeout` only bounds a failure: a quiet 2-core machine starts a server in a few seconds, but one
    shared with other test runs was measured at over 60 s (imports and gunicorn's workers), so the bound is
    wide. Raises RuntimeError with the server's log when it exits or is not ready in time.
    """
    port = free_port()
    admin_key = "rp_test-admin-" + os.urandom(12).hex()
    log_path = data_dir / "server.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    server_env = {
        **os.environ,
        "RUNPLANE_DATA_DIR": str(data_dir),
        "RUNPLANE_ADMIN_KEY": admin_key,
        **(env or {}),
    }
    command = [sys.executable, "-m", "runplane.cli", "serve", "--port", str(port), "--workers", str(workers)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready in {ready_timeout}s:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield RunningServer(base_url, admin_key, log_path)
    finally:
        stop_process_group(process, grace_seconds=20)


def new_keys(
    http: httpx.Client, admin_key: str, prefix: str, roles: tuple[str, ...] = ("worker", "user")
) -> dict[str, str]:
    """One new API key per role in `roles`, created by the admin over `http`: role → key."""
    keys = {}
    for role in roles:
        created = http.post(
            "/v1/keys", headers={"X-API-Key": admin_key}, json={"name": f"{prefix}-{role}", "role": role}
        )
        assert created.status_code == 201, created.text
        keys[role] = str(created.json()["key"])
    return keys
