"""`runplane serve`'s workers die with their master, so a restart on the same port comes up."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.server import REPO_ROOT, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Generous: on a busy 2-core machine a gunicorn master and its workers take seconds to start.
START_SECONDS = 120.0
# The workers' promise (ORPHAN_GRACE_SECONDS and the watchdog's pace), with room for a loaded machine.
ORPHAN_EXIT_SECONDS = 40.0


def _serve(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RUNPLANE_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "runplane.cli", "serve", "--port", str(port), "--workers", "2"]
    with log.open("ab") as out:
        # Its own session: the master (serve execs gunicorn in place) leads a process group of its own.
        return subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_for(condition: Callable[[], bool], seconds: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {seconds} s; server log:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        children.extend(int(child) for child in text)
    return children


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_workers_exit_when_the_master_is_killed_and_a_restart_on_the_port_comes_up(tmp_path):
    port = free_port()
    log = tmp_path / "server.log"
    first = _serve(tmp_path, port, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        _wait_for(lambda: _healthy(port), START_SECONDS, "the first server did not answer /healthz", log)
        _wait_for(lambda: len(_children(first.pid)) == 2, START_SECONDS, "two workers did not start", log)
        workers = _children(first.pid)

        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        # Only the workers are left in the master's group; they must go by themselves.
        _wait_for(lambda: not _group_alive(first.pid), ORPHAN_EXIT_SECONDS, "orphaned workers lived on", log)
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists()

        second = _serve(tmp_path, port, log)
        _wait_for(
            lambda: _healthy(port) or second.poll() is not None,
            START_SECONDS,
            "the restarted server did not answer /healthz",
            log,
        )
        assert second.poll() is None, log.read_text(errors="replace")
        assert _healthy(port)
    finally:
        for process in (first, second):
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
