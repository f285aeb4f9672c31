"""Where a task's files may go inside its workdir: one rule for the server (at submit) and the worker.

A dataset is placed at its `mount_path`, relative to the task's workdir (default ``datasets/<name>``). The
worker refuses a path that would leave the workdir or replace it; the server refuses the same paths when
the task is submitted (`runplane.tasks.check_runnable`, for tasks and sweep templates), so a task that no
worker could ever prepare is a 422 at once rather than a failure after it was queued.
"""

from __future__ import annotations

from pathlib import PurePosixPath

DEFAULT_MOUNT_DIR = "datasets"
"""Where a dataset without a `mount_path` is placed: ``datasets/<name>`` in the workdir."""


def dataset_name_problem(name: str) -> str | None:
    """Why `name` cannot name a dataset's default directory (a single path component), or None."""
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        return "must be a single path component"
    return None


def mount_path_problem(relative: str) -> str | None:
    """Why a dataset's `mount_path` (POSIX, relative to the workdir) cannot be used, or None.

    Refused: an absolute path (``/tmp/x``), any ``..`` component (``../x``, ``code/../..``: even one that
    would come back inside is refused, since the worker does not resolve it), a NUL, and a path naming the
    workdir itself (``.``, ``./``), which the dataset would replace.
    """
    pure = PurePosixPath(relative)
    if "\0" in relative or pure.is_absolute() or ".." in pure.parts:
        return "must stay inside the workdir"
    if not pure.parts:
        return "names the workdir itself"
    return None


def mount_parts(name: str, mount_path: str | None) -> tuple[str, ...]:
    """The path components, under the workdir, where dataset `name` is placed; ValueError (with the rule
    broken, the dataset and the path named) when `name` or `mount_path` breaks a rule above."""
    problem = dataset_name_problem(name)
    if problem:
        raise ValueError(f"dataset name {name!r} {problem}")
    relative = mount_path if mount_path is not None else f"{DEFAULT_MOUNT_DIR}/{name}"
    problem = mount_path_problem(relative)
    if problem:
        raise ValueError(f"dataset {name!r}: mount path {relative!r} {problem}")
    return PurePosixPath(relative).parts
