"""generated/ is what openapi.yaml gives, and `make check-generated` catches a spec changed without it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.server import REPO_ROOT

pytestmark = pytest.mark.contract

VENV = REPO_ROOT / ".venv"


def _check_generated(workdir: Path) -> subprocess.CompletedProcess[str]:
    # The project's venv is reused (VENV=...), and its install stamps are taken as up to date (-o), so
    # only the generator and the comparison run here.
    stamps = [arg for name in (".installed", ".installed-dev") for arg in ("-o", str(VENV / name))]
    return subprocess.run(
        ["make", "-s", f"VENV={VENV}", *stamps, "check-generated"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    for name in ("Makefile", "openapi.yaml", "pyproject.toml", "requirements.lock", "requirements-dev.lock"):
        shutil.copy2(REPO_ROOT / name, tmp_path / name)
    shutil.copytree(REPO_ROOT / "generated", tmp_path / "generated")
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
    assert "generated/ is stale: run make generate" in result.stdout + result.stderr
