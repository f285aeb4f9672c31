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
        ("python -u train.py", None),  # options before the script: not guessed
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
