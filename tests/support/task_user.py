"""Workers whose tasks run as `nobody` (the default of a worker run as root), for the tests that check it.

tests/conftest.py makes workers the tests start run tasks as the tests' own user, because pytest's
temporary directories are root-only; a test that wants the real default uses these two helpers.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

RUNS_AS_ROOT = os.geteuid() == 0


def reachable_by_tasks(path: Path) -> None:
    """Give ``path`` and every directory above it that this user owns search permission for others
    (``o+x``, not read: nobody can list them), so a task run as `nobody` can enter a work dir below."""
    for directory in (path.resolve(), *path.resolve().parents):
        info = directory.stat()
        if info.st_uid == os.geteuid() and not info.st_mode & stat.S_IXOTH:
            directory.chmod(stat.S_IMODE(info.st_mode) | stat.S_IXOTH)


def default_task_user(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without the tests' RUNPLANE_WORKER_TASK_USER: the worker picks its own default."""
    return {name: value for name, value in env.items() if name != "RUNPLANE_WORKER_TASK_USER"}
