"""The real processes tests start: stopping them (whole process group included), and how long one takes to start."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time


def stop_process_group(process: subprocess.Popen[bytes], *, grace_seconds: float = 30) -> None:
    """SIGTERM to the group, then SIGKILL if it has not ended within the grace period."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@functools.cache
def start_allowance_seconds() -> float:
    """Seconds a task's Python start may take on this machine right now, with a wide margin.

    Tests that give a task a deadline (a timeout, a grace period) must not give it less than a process
    start: on a loaded 2-core machine `python -c 'import subprocess'` can take seconds. This measures
    the slowest of three such starts and allows four times that, at least one second.
    """
    slowest = 0.0
    for _ in range(3):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "import signal, subprocess, time"], check=True)
        slowest = max(slowest, time.monotonic() - started)
    return max(1.0, 4 * slowest)
