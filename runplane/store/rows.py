"""ORM rows from Core statements, for the hot paths of the dispatch cycle.

An ORM-enabled ``UPDATE ... RETURNING TaskRow`` runs the ORM's compile and loading machinery on every
execution, even when the statement object is built once and reused: measured on this machine, ~1.2 ms of
CPU per statement against ~0.3 ms for the same statement on the table (Core), returning the same columns.
A claim, a report and each end of the batch a claim carries run one each, per task (issue 11). So those
statements are written on the table (`TASKS`, plain columns: an ORM attribute anywhere in a statement
makes it ORM-enabled again) and return `TASK_COLUMNS`; `task_from` makes the row a `TaskRow` again for
the code that takes one (events, presenters, run records).

The `TaskRow` it makes is transient: it belongs to no session, so it is read, never flushed. Code that
changes a task writes an UPDATE, as every store method does.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Column, Row, Table
from sqlalchemy import inspect as sa_inspect

from runplane.store.tables import TaskRow, WorkerRow

TASKS: Final[Table] = TaskRow.__table__  # type: ignore[assignment]
WORKERS: Final[Table] = WorkerRow.__table__  # type: ignore[assignment]
_ATTRS = sa_inspect(TaskRow).column_attrs
_KEYS: Final[tuple[str, ...]] = tuple(attr.key for attr in _ATTRS)
TASK_COLUMNS: Final[tuple[Column[Any], ...]] = tuple(attr.columns[0] for attr in _ATTRS)  # type: ignore[misc]
"""Every column of the tasks table, in the order `task_from` reads them."""
_NEW = TaskRow._sa_class_manager.new_instance  # type: ignore[attr-defined]


def task_from(row: Row[Any] | tuple[Any, ...], offset: int = 0) -> TaskRow:
    """A transient `TaskRow` from a row holding `TASK_COLUMNS` at `offset` (``RETURNING *TASK_COLUMNS,
    ...``). Its attributes are set without the ORM's change tracking (~100x cheaper than the ORM's
    constructor): it is for reading."""
    task: TaskRow = _NEW()
    task.__dict__.update(zip(_KEYS, row[offset : offset + len(_KEYS)], strict=True))
    return task


def task_with(task: TaskRow, values: dict[str, Any]) -> TaskRow:
    """A transient copy of `task` with `values` (column keys) applied: the row an UPDATE of those values
    would have returned, for the events of a state one UPDATE passes through (a folded start)."""
    copy: TaskRow = _NEW()
    copy.__dict__.update({key: getattr(task, key) for key in _KEYS})
    copy.__dict__.update(values)
    return copy
