"""Workers whose tasks run as `nobody` (the default of a worker run as root), for the tests that check it.

tests/conftest.py makes workers the tests start run tasks as the tests' own user, because pytest's
temporary directories are root-only; a test that wants the real default uses these helpers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

RUNS_AS_ROOT = os.geteuid() == 0


@contextmanager
def reachable_dir() -> Iterator[Path]:
    """A fresh directory under the system's temp dir that `nobody` may enter (``0o711``), removed after.

    Not under pytest's ``tmp_path``: pytest makes ``/tmp/pytest-of-<user>`` ``0o700`` again at the start
    of every session, and other sessions may start at any time.
    """
    path = Path(tempfile.mkdtemp(prefix="runplane-task-user-"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def default_task_user(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without the tests' RUNPLANE_WORKER_TASK_USER: the worker picks its own default."""
    return {name: value for name, value in env.items() if name != "RUNPLANE_WORKER_TASK_USER"}
