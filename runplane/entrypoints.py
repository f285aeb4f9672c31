"""Which file of a task's code its entrypoint runs, so that the server (at submit, against the snapshot's
file list) and the worker (before launching) can tell a missing script apart from a failing one.

The worker runs an entrypoint as `runplane.worker.launch.build_argv` says: split like a shell would, a
first word ending in ``.py`` or ``.sh`` is a script in the task's ``code/`` directory; ``python train.py``
or ``bash run.sh`` name theirs as the interpreter's first argument. Anything else (a program on ``PATH``,
``python -m pkg``, ``bash -c "..."``, an absolute path) names no file of the snapshot, and nothing is
claimed about it.
"""

from __future__ import annotations

import posixpath
import re
import shlex

SCRIPT_SUFFIXES = (".py", ".sh")
_INTERPRETER = re.compile(r"(python[0-9.]*|sh|bash)")


def _relative_script(word: str) -> str | None:
    if not word.endswith(SCRIPT_SUFFIXES) or word.startswith(("/", "-", "~", "$")):
        return None
    path = posixpath.normpath(word)
    return None if path == ".." or path.startswith("../") else path


def entrypoint_script(entrypoint: str | None) -> str | None:
    """The relative path (normalized, ``./`` removed) of the script `entrypoint` runs from the task's code,
    or None when it names none (see the module docstring) or cannot be split."""
    if not entrypoint:
        return None
    try:
        words = shlex.split(entrypoint)
    except ValueError:
        return None
    if not words:
        return None
    script = _relative_script(words[0])
    if script is not None:
        return script
    if len(words) > 1 and _INTERPRETER.fullmatch(posixpath.basename(words[0])):
        return _relative_script(words[1])
    return None
