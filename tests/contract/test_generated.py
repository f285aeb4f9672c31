"""generated/ and the SDK in clients/python are what openapi.yaml gives, and `make check-generated` catches a
spec changed without `make generate` (or generated code edited by hand)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.server import REPO_ROOT

pytestmark = pytest.mark.contract

VENV = REPO_ROOT / ".venv"


def _check_generated(workdir: Path) -> subprocess.CompletedProcess[str]:
    # The project's venv is reused (VENV=...), and its install stamp is taken as up to date (-o), so
    # only the generator and the comparison run here.
    stamp = VENV / ".installed"
    return subprocess.run(
        ["make", "-s", f"VENV={VENV}", "-o", str(stamp), "check-generated"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    for name in ("Makefile", "openapi.yaml", "pyproject.toml", "requirements.lock"):
        shutil.copy2(REPO_ROOT / name, tmp_path / name)
    shutil.copytree(REPO_ROOT / "generated", tmp_path / "generated")
    shutil.copytree(
        REPO_ROOT / "clients",
        tmp_path / "clients",
        ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", ".ruff_cache", "build", "dist"),
    )
    return tmp_path


def test_generated_models_are_fresh(project_copy: Path) -> None:
    result = _check_generated(project_copy)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_spec_change_without_make_generate_fails_the_check(project_copy: Path) -> None:
    spec = project_copy / "openapi.yaml"
    text = spec.read_text()
    changed = text.replace(
        "    PriorityUpdate:\n", "    PriorityUpdate:\n      description: Changed by hand.\n", 1
    )
    assert changed != text
    spec.write_text(changed)
    result = _check_generated(project_copy)
    assert result.returncode != 0
    assert "is stale: run make generate" in result.stdout + result.stderr


def test_an_operation_change_without_make_generate_fails_the_check_on_the_sdk(project_copy: Path) -> None:
    # An operation's text is no part of generated/models.py (schemas only), but is the SDK's docstring.
    spec = project_copy / "openapi.yaml"
    text = spec.read_text()
    changed = text.replace("      summary: Download an artifact\n", "      summary: Fetch an artifact\n", 1)
    assert changed != text
    spec.write_text(changed)
    result = _check_generated(project_copy)
    assert result.returncode != 0
    assert "download_task_artifact.py" in result.stdout
    assert "clients/python is stale: run make generate" in result.stdout + result.stderr


def test_an_sdk_edited_by_hand_fails_the_check(project_copy: Path) -> None:
    client = project_copy / "clients" / "python" / "runplane_client" / "client.py"
    client.write_text(client.read_text() + "\n# edited by hand\n")
    result = _check_generated(project_copy)
    assert result.returncode != 0
    assert "edited by hand" in result.stdout
