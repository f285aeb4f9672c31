"""The layering rules of issue 8 §1, checked on the source tree (ast), so they cannot regress:

- all SQL lives in `runplane/store/`: no module above the store imports SQLAlchemy (its query API, its
  sessions, its exceptions or its URL helpers); the store translates what the rest needs;
- task statuses are the lifecycle's enum: no module outside `runplane/lifecycle.py` compares a task
  status with a bare string literal.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "runplane"
# Alembic migrations are the schema's history: they are SQL by nature and frozen once written.
ALLOWED = ("store", "migrations")
STATUSES = {"queued", "preparing", "running", "collecting", "completed", "failed", "cancelled"}


def _modules() -> list[Path]:
    return sorted(path for path in ROOT.rglob("*.py") if "__pycache__" not in path.parts)


def _above_the_store() -> list[Path]:
    return [path for path in _modules() if path.relative_to(ROOT).parts[0] not in ALLOWED]


def _sqlalchemy_imports(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "sqlalchemy"
            ]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and node.module.split(".")[0] == "sqlalchemy"
        ):
            found.append((node.lineno, node.module))
    return found


def test_the_scan_sees_the_tree() -> None:
    # A scan of nothing would pass vacuously: the tree has modules on both sides of the rule.
    names = {path.relative_to(ROOT).as_posix() for path in _modules()}
    assert {"scheduler.py", "lifecycle.py", "store/claim.py", "store/tasks.py"} <= names
    assert _sqlalchemy_imports(ast.parse((ROOT / "store" / "claim.py").read_text()))


@pytest.mark.parametrize("path", _above_the_store(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_no_module_above_the_store_imports_sqlalchemy(path: Path) -> None:
    imports = _sqlalchemy_imports(ast.parse(path.read_text(), filename=str(path)))
    assert imports == [], (
        f"{path.relative_to(ROOT)} imports SQLAlchemy {imports}: move the SQL into runplane/store/"
    )


def _status_literal_comparisons(tree: ast.AST) -> list[int]:
    """Lines comparing something named `status` (or `.status`) with a bare task-status string."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        named_status = any(
            (isinstance(o, ast.Attribute) and o.attr == "status")
            or (isinstance(o, ast.Name) and o.id == "status")
            for o in operands
        )
        literal = any(
            (isinstance(o, ast.Constant) and o.value in STATUSES)
            or (
                isinstance(o, ast.Tuple | ast.List | ast.Set)
                and any(isinstance(e, ast.Constant) and e.value in STATUSES for e in o.elts)
            )
            for o in operands
        )
        if named_status and literal:
            lines.append(node.lineno)
    return lines


def test_the_status_scan_finds_a_bare_literal() -> None:
    assert _status_literal_comparisons(ast.parse('if row.status == "queued": pass')) == [1]
    assert _status_literal_comparisons(ast.parse("if row.status == TaskStatus.queued: pass")) == []


# The worker agent speaks the contract through the generated client (its own enums), and the CLI prints
# the SDK's fields; neither compares stored task statuses.
_NOT_SERVER = ("worker", "cli_tasks.py", "cli_admin.py")


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in _modules()
        if p.name != "lifecycle.py" and p.relative_to(ROOT).parts[0] not in ("migrations", *_NOT_SERVER)
    ],
    ids=lambda path: path.relative_to(ROOT).as_posix(),
)
def test_task_statuses_are_compared_through_the_lifecycle_enum(path: Path) -> None:
    lines = _status_literal_comparisons(ast.parse(path.read_text(), filename=str(path)))
    assert lines == [], f"{path.relative_to(ROOT)} compares a status with a bare literal on lines {lines}"
