"""The `runplane` command line, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import REPO_ROOT

pytestmark = pytest.mark.integration


def runplane(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNPLANE_DATA_DIR": str(data_dir)}
    env.pop("RUNPLANE_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "runplane.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_keys_create_prints_the_key_alone_and_stores_only_its_hash(tmp_path: Path) -> None:
    created = runplane("keys", "create", "--local", "--role", "admin", "--name", "ops", data_dir=tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert created.stdout == key + "\n"
    assert key.startswith("rp_") and len(key) > 40
    listed = runplane("keys", "list", "--local", data_dir=tmp_path)
    assert "ops" in listed.stdout and key not in listed.stdout
    for database_file in tmp_path.glob("runplane.sqlite3*"):  # the database, its WAL and shared memory
        assert key.encode() not in database_file.read_bytes()
    again = runplane("keys", "create", "--local", "--role", "admin", "--name", "ops", data_dir=tmp_path)
    assert again.returncode != 0
    assert again.stdout == ""


def test_an_unknown_role_is_refused(tmp_path: Path) -> None:
    result = runplane("keys", "create", "--local", "--role", "root", "--name", "x", data_dir=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
