"""Helpers for code running *inside* a runplane task.

A task reports progress by printing a line ``::progress <percent> [message]`` on stdout; the worker reads
it from the task's output stream. This module prints that line for you, so a task needs no network access
and no knowledge of the API to report progress.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROGRESS_PREFIX = "::progress"


def progress(percent: float, message: str | None = None) -> None:
    """Report ``percent`` (clamped to 0..100) and an optional one-line ``message``."""
    value = max(0.0, min(100.0, float(percent)))
    text = f"{PROGRESS_PREFIX} {value:g}"
    if message:
        text += " " + " ".join(message.split())
    print(text, file=sys.stdout, flush=True)


def output_dir() -> Path:
    """The directory whose files become the task's artifacts (``$RUNPLANE_OUTPUT_DIR``)."""
    path = Path(os.environ.get("RUNPLANE_OUTPUT_DIR", "output"))
    path.mkdir(parents=True, exist_ok=True)
    return path
