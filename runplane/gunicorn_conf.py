"""gunicorn settings for `runplane serve` (passed as ``-c python:runplane.gunicorn_conf``).

Only server hooks live here; everything else is on the command line `runplane.cli.gunicorn_command`
builds. This module is imported by gunicorn's master process, which forks the workers: it must not
import prometheus_client at module level (the master must not fix its value class or create metrics
before forking).

A worker dies with its master. uvicorn workers, unlike gunicorn's own, never check that their master is
still there, so after a ``kill -9`` of the master they kept serving the inherited socket and a restarted
server could not bind its port. `post_fork` asks the kernel for SIGTERM when the master goes (Linux
``PR_SET_PDEATHSIG``) and starts a watchdog thread as well (other systems, and a master that died before
the request took effect): when the parent pid changes it sends the worker SIGTERM (uvicorn closes the
listening socket and finishes the requests in flight) and, should the worker still be alive
`ORPHAN_GRACE_SECONDS` later, ends it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time
from typing import Any

PR_SET_PDEATHSIG = 1
WATCHDOG_INTERVAL_SECONDS = 0.5
ORPHAN_GRACE_SECONDS = 15.0
"""How long an orphaned worker may take to finish its requests after SIGTERM (gunicorn's graceful
timeout is 10 s) before it is ended at once."""


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _watch_parent(master_pid: int) -> None:
    while os.getppid() == master_pid:
        time.sleep(WATCHDOG_INTERVAL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(ORPHAN_GRACE_SECONDS)
    os._exit(1)


def post_fork(server: Any, worker: Any) -> None:
    """In a new worker: make sure it ends when the master does (see the module docstring)."""
    master_pid = server.pid
    _die_with_parent()
    threading.Thread(target=_watch_parent, args=(master_pid,), name="master-watchdog", daemon=True).start()


def child_exit(_server: Any, worker: Any) -> None:
    """A worker process ended: its share of the ``livesum`` gauges (open connections) goes with it."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
