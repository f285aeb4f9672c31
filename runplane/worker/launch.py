"""How an assigned task is started: its command line, its environment and its work directory layout.

The command. A catalog model runs as ``<python> -m runplane.catalog <model_id>``. Any other task's
``entrypoint`` is split like a shell would (no shell runs it) and its ``args`` are appended; a first word
ending in ``.py`` runs with the worker's Python and one ending in ``.sh`` with ``/bin/sh``, both resolved
against the task's ``code/`` directory (its working directory).

The environment is built from nothing rather than inherited, so the worker's own settings (its API key
above all) never reach a task. It holds a few harmless variables of the worker (``HOME``, locale, proxies,
library paths), ``PATH`` with the worker's Python first (so ``python`` in an entrypoint is the interpreter
the worker runs on, which has ``runplane.task`` and the ML stack; no ``PYTHONPATH`` is needed or set), then
the task's ``env``, then its ``secrets``, then its ``output_env`` directories, then what runplane sets and the task may not override:
``RUNPLANE_TASK_ID``, ``RUNPLANE_ATTEMPT``, ``RUNPLANE_OUTPUT_DIR``, ``RUNPLANE_RANDOM_SEED``,
``RUNPLANE_MODEL_INPUTS`` and the GPU assignment (``CUDA_VISIBLE_DEVICES`` always, ``""`` when the task has
no GPU). A part of a multi-node task (an assignment with a ``rank``) also gets the variables
torch.distributed's ``env://`` rendezvous reads (`rank_env`).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from generated.models import TaskAssignment
from runplane.entrypoints import entrypoint_words
from runplane.worker.capabilities import gpu_env

# Variables of the worker's environment a task inherits; everything else stays with the worker.
INHERITED_VARIABLES = (
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "TZ",
    "LD_LIBRARY_PATH",
    "CUDA_HOME",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


class LaunchError(ValueError):
    """The assignment cannot be turned into a command (no entrypoint, unbalanced quotes)."""


@dataclass(frozen=True)
class TaskDirs:
    """``root`` = ``<work_dir>/<task_id>-<attempt>``; the task runs in ``code``, writes into ``output``."""

    root: Path

    @classmethod
    def for_task(cls, work_dir: Path, task_id: str, attempt: int) -> TaskDirs:
        return cls(work_dir / f"{task_id}-{attempt}")

    @property
    def code(self) -> Path:
        return self.root / "code"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def snapshot_archive(self) -> Path:
        return self.root / "snapshot.tar.gz"

    def create(self) -> None:
        for directory in (self.code, self.output, self.tmp):
            directory.mkdir(parents=True, exist_ok=True)

    def remove_if_empty(self) -> bool:
        """Remove the layout if nothing but its three empty directories is left (a task that wrote no
        file: four ``rmdir`` calls, cheap enough for the event loop); ``True`` when it is gone.

        ``False`` when something is in it (files, a directory the task replaced by a symbolic link, which
        ``rmdir`` refuses rather than follows): what was removed stays removed, and the caller removes
        the rest with ``shutil.rmtree``. A missing directory counts as removed.
        """
        for directory in (self.code, self.output, self.tmp, self.root):
            try:
                os.rmdir(directory)
            except FileNotFoundError:
                continue
            except OSError:
                return False
        return True


def build_argv(assignment: TaskAssignment, code_dir: Path, *, python: str = sys.executable) -> list[str]:
    if assignment.model_id:
        return [python, "-m", "runplane.catalog", assignment.model_id]
    if not assignment.entrypoint or not assignment.entrypoint.strip():
        raise LaunchError("the task has neither an entrypoint nor a model")
    try:
        words = entrypoint_words(assignment.entrypoint)  # the rule the server checked at submit
    except ValueError as exc:
        raise LaunchError(str(exc)) from None
    words += [arg.root for arg in assignment.args]
    program, rest = words[0], words[1:]
    if program.endswith(".py"):
        return [python, _in_code(program, code_dir), *rest]
    if program.endswith(".sh"):
        return ["/bin/sh", _in_code(program, code_dir), *rest]
    return words


def _in_code(program: str, code_dir: Path) -> str:
    path = Path(program)
    return str(path if path.is_absolute() else code_dir / path)


# Never inherited, whatever the allow list says: the worker's credentials (RUNPLANE_WORKER_KEY) and settings.
DENIED_PREFIXES = ("RUNPLANE_",)


def base_env(worker_env: Mapping[str, str], *, python: str = sys.executable) -> dict[str, str]:
    """What a task inherits from the worker: `INHERITED_VARIABLES` (an allow list), never a name with a
    `DENIED_PREFIXES` prefix (the worker key is ``RUNPLANE_WORKER_KEY``), plus ``PATH`` and Python's."""
    env = {
        name: worker_env[name]
        for name in INHERITED_VARIABLES
        if name in worker_env and not name.startswith(DENIED_PREFIXES)
    }
    interpreter_dir = str(Path(python).parent)
    path = worker_env.get("PATH") or _DEFAULT_PATH
    env["PATH"] = (
        path if path.split(os.pathsep)[0] == interpreter_dir else f"{interpreter_dir}{os.pathsep}{path}"
    )
    env.setdefault("LANG", "C.UTF-8")
    # Output goes to a pipe: without this, Python block-buffers it and progress arrives all at the end.
    env["PYTHONUNBUFFERED"] = "1"
    return env


def build_env(
    assignment: TaskAssignment,
    dirs: TaskDirs,
    gpu_indices: Sequence[int],
    *,
    worker_env: Mapping[str, str] | None = None,
    python: str = sys.executable,
) -> dict[str, str]:
    env = base_env(os.environ if worker_env is None else worker_env, python=python)
    env["TMPDIR"] = str(dirs.tmp)
    env.update(assignment.env.root)
    env.update(assignment.secrets.root)
    env.update(output_dirs(assignment, dirs))
    env.update(
        {
            "RUNPLANE_TASK_ID": assignment.task_id.root,
            "RUNPLANE_ATTEMPT": str(assignment.attempt),
            "RUNPLANE_OUTPUT_DIR": str(dirs.output),
        }
    )
    if assignment.random_seed is not None:
        env["RUNPLANE_RANDOM_SEED"] = str(assignment.random_seed)
    if assignment.model_id:
        env["RUNPLANE_MODEL_INPUTS"] = json.dumps(assignment.inputs.root, separators=(",", ":"))
    env.update(gpu_env(list(gpu_indices)))
    env.update(rank_env(assignment))
    return env


def rank_env(assignment: TaskAssignment) -> dict[str, str]:
    """The rendezvous variables of a multi-node task's part; empty for a single-node task.

    ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT`` (torch.distributed's ``env://`` names),
    ``LOCAL_RANK`` 0 and ``LOCAL_WORLD_SIZE`` 1 (one part runs per worker), ``NODE_RANK`` (= ``RANK``,
    Lightning's name), and the same values as ``RUNPLANE_RANK``, ``RUNPLANE_WORLD_SIZE``,
    ``RUNPLANE_NODE_RANK``, ``RUNPLANE_MASTER_ADDR`` and ``RUNPLANE_MASTER_PORT``.
    """
    if assignment.rank is None or assignment.world_size is None:
        return {}
    values = {
        "RANK": str(assignment.rank),
        "WORLD_SIZE": str(assignment.world_size),
        "LOCAL_RANK": "0",
        "LOCAL_WORLD_SIZE": "1",
        "NODE_RANK": str(assignment.rank),
        "MASTER_ADDR": assignment.master_addr or "",
        "MASTER_PORT": str(assignment.master_port or ""),
    }
    twins = {"RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"}
    values.update({f"RUNPLANE_{name}": values[name] for name in sorted(twins)})
    return values


def free_port() -> int:
    """A TCP port free on this host right now (the kernel's choice), offered as a gang's MASTER_PORT.

    It is released again at once: a rank-0 program binds it moments later. The kernel hands ephemeral
    ports out in turn, so the gap in which another program could take it is small.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


def output_dirs(assignment: TaskAssignment, dirs: TaskDirs) -> dict[str, str]:
    """The assignment's `output_env` (set by tracking plugins): each variable's directory, relative to the
    task's output directory, created there and given as an absolute path (so what a tracker writes there,
    TensorBoard event files or offline W&B runs, becomes artifacts). A path that would leave the output
    directory raises LaunchError."""
    found: dict[str, str] = {}
    output = dirs.output.resolve()
    for name, relative in (assignment.output_env.root if assignment.output_env else {}).items():
        target = (output / relative).resolve()
        if target != output and output not in target.parents:
            raise LaunchError(f"output_env {name!r} leaves the output directory")
        target.mkdir(parents=True, exist_ok=True)
        found[name] = str(target)
    return found
