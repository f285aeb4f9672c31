"""gunicorn settings for `runplane serve` (passed as ``-c python:runplane.gunicorn_conf``).

Only server hooks live here; everything else is on the command line `runplane.cli.gunicorn_command`
builds. This module is imported by gunicorn's master process, which forks the workers: it must not
import prometheus_client at module level (the master must not fix its value class or create metrics
before forking).
"""

from __future__ import annotations

import os
from typing import Any


def child_exit(_server: Any, worker: Any) -> None:
    """A worker process ended: its share of the ``livesum`` gauges (open connections) goes with it."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
