"""One real worker agent (`runplane worker`) in its own process group, for tests that need tasks to run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.processes import stop_process_group
from tests.support.server import REPO_ROOT
from tests.support.waiting import poll


@contextmanager
def running_worker(
    api_url: str, worker_key: str, root: Path, *, name: str, registered: Callable[[str], bool]
) -> Iterator[subprocess.Popen[bytes]]:
    """Starts `runplane worker --name NAME` against `api_url` (the key in its environment, as `runplane up`
    passes it) and returns once `registered(name)` says the server lists it; stops it (SIGTERM to its
    group) afterwards."""
    log_path = root / f"{name}.log"
    command = [sys.executable, "-m", "runplane.cli", "worker", "--api", api_url, "--name", name]
    command += ["--slots", "2", "--work-dir", str(root / name), "--grace-seconds", "1"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, "RUNPLANE_WORKER_KEY": worker_key},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def up() -> bool:
            if process.poll() is not None:
                pytest.fail(f"worker {name} exited with {process.returncode}:\n{log_path.read_text()}")
            return registered(name)

        # A bound on failure only: a worker process starting on a loaded 2-core machine took >60 s.
        poll(up, timeout=180, what=f"worker {name} to register")
        yield process
    finally:
        stop_process_group(process, grace_seconds=30)
