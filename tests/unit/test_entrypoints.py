"""Which script of a task's code an entrypoint runs (runplane.entrypoints)."""

from __future__ import annotations

import pytest

from runplane.entrypoints import entrypoint_script


@pytest.mark.parametrize(
    ("entrypoint", "script"),
    [
        ("train.py", "train.py"),
        ("./train.py --epochs 3", "train.py"),
        ("python train.py", "train.py"),
        ("python3.11 src/../train.py", "train.py"),
        ("/usr/bin/python3 pkg/run.py", "pkg/run.py"),
        ("bash 'my dir/run.sh'", "my dir/run.sh"),
        ("sh run.sh", "run.sh"),
        ("python -m pkg.train", None),
        ("python -u train.py", "train.py"),  # options before the script are skipped
        ("python -W error -X dev -B train.py", "train.py"),
        ("python -Wdefault train.py", "train.py"),
        ("python -uc 'print(1)'", None),  # -c grouped with another flag
        ("python - < train.py", None),  # stdin
        ("python -- train.py", "train.py"),
        ("bash -e -o pipefail run.sh", "run.sh"),
        ("bash -s", None),
        ("bash -ec 'echo hi'", None),
        ("python", None),
        ("python train", None),  # no script suffix: not guessed (a directory with __main__.py runs too)
        ('/bin/bash -c "echo hello"', None),
        ("/opt/tools/train.py", None),
        ("../outside.py", None),
        ("true", None),
        ("python 'unbalanced", None),
        ("", None),
        (None, None),
    ],
)
def test_entrypoint_script(entrypoint, script):
    assert entrypoint_script(entrypoint) == script


@pytest.mark.parametrize(
    ("entrypoint", "args", "script"),
    [
        ("python", ["nothere.py"], "nothere.py"),
        ("python3", ["-u", "src/train.py", "--lr", "0.1"], "src/train.py"),
        ("/usr/bin/python3.11", ["-W", "ignore", "train.py"], "train.py"),
        ("python -u", ["train.py"], "train.py"),
        ("bash", ["run.sh", "x"], "run.sh"),
        ("sh", ["-x", "run.sh"], "run.sh"),
        ("python", ["-m", "pkg.train", "x.py"], None),
        ("python", ["-c", "import x", "x.py"], None),
        ("bash", ["-c", "python x.py"], None),
        ("python", ["/abs/train.py"], None),
        ("python", ["../train.py"], None),
        ("python", ["--", "train.py"], "train.py"),
        ("train.py", ["other.py"], "train.py"),  # the script is the entrypoint's; args are its arguments
        ("torchrun", ["train.py"], None),  # not an interpreter this knows
        ("python", [], None),
    ],
)
def test_interpreter_and_args_form(entrypoint, args, script):
    assert entrypoint_script(entrypoint, args) == script
