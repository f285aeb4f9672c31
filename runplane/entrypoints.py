"""Which file of a task's code its entrypoint runs, so that the server (at submit, against the snapshot's
file list) and the worker (before launching) can tell a missing script apart from a failing one.

The worker runs an entrypoint as `runplane.worker.launch.build_argv` says: the entrypoint split like a
shell would, then the task's ``args``. A first word ending in ``.py`` or ``.sh`` is a script in the task's
``code/`` directory; an interpreter (``python``, ``python3.11``, ``bash``, ``sh``, by any path) runs the
first word after its options, whether that word is in the entrypoint (``python -u train.py``) or the first
of the args (``{"entrypoint": "python", "args": ["-u", "train.py"]}``). Options that take a value
(``-W error``, ``-X dev``, ``-o pipefail``) skip it; ``--`` ends the options. ``python -m pkg``, ``python -c
code``, ``bash -c "..."`` (also grouped, ``-uc``), reading stdin (``-``, ``bash -s``), a program on
``PATH``, an absolute path or a word without a script suffix name no file of the snapshot, and nothing is
claimed about them.
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


# Options whose value is the next word (python: -W, -X, --check-hash-based-pycs; bash/sh: -o, -O and the
# long ones with a file or name).
_PYTHON_VALUE_OPTIONS = frozenset({"-W", "-X", "--check-hash-based-pycs"})
_SHELL_VALUE_OPTIONS = frozenset({"-o", "+o", "-O", "+O", "--rcfile", "--init-file"})


def _interpreter_script(program: str, words: list[str]) -> str | None:
    """The script `program` (an interpreter) runs given its arguments `words`, or None (see the module)."""
    python = program.startswith("python")
    takes_value = _PYTHON_VALUE_OPTIONS if python else _SHELL_VALUE_OPTIONS
    # Short options that end the options and say the program is not a file: -m module / -c code
    # (python), -c command / -s stdin (bash, sh).
    no_file = "mc" if python else "cs"
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            return _relative_script(words[index + 1]) if index + 1 < len(words) else None
        if word == "-":
            return None  # the program is read from stdin
        if not word.startswith(("-",) if python else ("-", "+")):
            return _relative_script(word)  # the first word after the options
        if word in takes_value:
            index += 2
            continue
        if not word.startswith("--") and any(flag in no_file for flag in word[1:]):
            return None
        if python and word[:2] in ("-W", "-X"):  # -Wdefault, -Xdev: the value is joined
            index += 1
            continue
        index += 1
    return None


def entrypoint_script(entrypoint: str | None, args: list[str] | None = None) -> str | None:
    """The relative path (normalized, ``./`` removed) of the script `entrypoint` (with the task's `args`
    after it) runs from the task's code, or None when it names none (see the module docstring) or the
    entrypoint cannot be split."""
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
    if _INTERPRETER.fullmatch(posixpath.basename(words[0])):
        return _interpreter_script(posixpath.basename(words[0]), [*words[1:], *(args or [])])
    return None


def entrypoint_words(entrypoint: str) -> list[str]:
    """The words of an entrypoint, split as a POSIX shell would (`shlex.split`; no shell runs it): the
    worker's command line starts with them (runplane.worker.launch), and the server refuses at submit an
    entrypoint that gives none (runplane.tasks.check_runnable). Raises ValueError saying why: an unclosed
    quote or trailing escape, or no words at all (empty or whitespace only)."""
    try:
        words = shlex.split(entrypoint)
    except ValueError as exc:
        raise ValueError(f"cannot split the entrypoint as a shell would: {exc}") from None
    if not words:
        raise ValueError("the entrypoint is blank: it names no program to run")
    return words
