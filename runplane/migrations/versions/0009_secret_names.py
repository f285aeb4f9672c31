"""secret_names: a task keeps the names of its secrets; their values are erased when it ends

Revision ID: 0009_secret_names
Revises: 0008_plugins
Create Date: 2026-11-30 04:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from runplane.redaction import SecretValues

revision = "0009_secret_names"
down_revision = "0008_plugins"
branch_labels = None
depends_on = None

_TERMINAL = ("completed", "failed", "cancelled")


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("secret_names", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("redacted_view", sa.JSON(), nullable=True))
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.alter_column("secret_names", server_default=None)
    # Every task records its secrets' names; the values of tasks that already ended are erased now
    # (they outlived their use: a retry takes them again).
    tasks = sa.table(
        "tasks",
        sa.column("id", sa.String),
        sa.column("status", sa.String),
        sa.column("secrets", sa.JSON),
        sa.column("secret_names", sa.JSON),
        sa.column("redacted_view", sa.JSON),
        sa.column("entrypoint", sa.Text),
        sa.column("args", sa.JSON),
        sa.column("env", sa.JSON),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(tasks.c.id, tasks.c.status, tasks.c.secrets, tasks.c.entrypoint, tasks.c.args, tasks.c.env)
    ).all()
    for task_id, status, values, entrypoint, args, env in rows:
        names = sorted(values or {})
        if not names:
            continue
        changes: dict[str, object] = {"secret_names": names}
        if status in _TERMINAL:
            # What the views showed (values redacted) stays showable without the values.
            hidden = SecretValues(str(value) for value in values.values() if value is not None)
            changes["secrets"] = {}
            changes["redacted_view"] = {
                "entrypoint": hidden.redact(entrypoint) if entrypoint is not None else None,
                "args": [hidden.redact(str(arg)) for arg in args or []],
                "env": {name: hidden.redact(str(value)) for name, value in (env or {}).items()},
            }
        bind.execute(tasks.update().where(tasks.c.id == task_id).values(**changes))


def downgrade() -> None:
    # Erased values cannot come back; the names go with the column.
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("redacted_view")
        batch_op.drop_column("secret_names")
