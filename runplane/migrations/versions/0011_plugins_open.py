"""plugins_open: the tasks whose tracking plugins are still tended (re-checked, then wound up when they end)

Revision ID: 0011_plugins_open
Revises: 0010_gang
Create Date: 2026-11-30 06:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_plugins_open"
down_revision = "0010_gang"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plugins_open", sa.Boolean(), nullable=True))
        batch_op.create_index(batch_op.f("ix_tasks_plugins_open"), ["plugins_open"], unique=False)
    # Tasks claimed before this revision keep the status their claim wrote: only running ones are tended
    # from now on (an ended task's MLflow run is left as it was).
    tasks = sa.table(
        "tasks",
        sa.column("id", sa.String),
        sa.column("status", sa.String),
        sa.column("plugin_status", sa.JSON),
        sa.column("plugins_open", sa.Boolean),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(tasks.c.id, tasks.c.plugin_status).where(
            tasks.c.status.in_(("preparing", "running", "collecting"))
        )
    ).all()
    for task_id, status in rows:
        if status:  # a JSON null or {} is no plugin
            bind.execute(tasks.update().where(tasks.c.id == task_id).values(plugins_open=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_plugins_open"))
        batch_op.drop_column("plugins_open")
