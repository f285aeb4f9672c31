"""retries: the retry policy and attempt history on tasks, artifacts kept per attempt

Revision ID: 0007_retries
Revises: 0006_jupyter
Create Date: 2026-11-30 01:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import runplane.store.tables

revision = "0007_retries"
down_revision = "0006_jupyter"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing tasks get today's policy: only a lost worker is retried, at once.
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("retry_on", sa.JSON(), nullable=False, server_default='["worker_lost"]')
        )
        batch_op.add_column(sa.Column("retry_on_exit_codes", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(
            sa.Column("retry_backoff_seconds", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("not_before", runplane.store.tables.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("attempts", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        for name in ("retry_on", "retry_on_exit_codes", "retry_backoff_seconds", "attempts"):
            batch_op.alter_column(name, server_default=None)
    # Existing artifacts belong to their task's first attempt (attempt 1 keeps the old directory).
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.alter_column("attempt", server_default=None)
        batch_op.drop_constraint("pk_artifacts", type_="primary")
        batch_op.create_primary_key("pk_artifacts", ["task_id", "attempt", "path"])


def downgrade() -> None:
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.drop_constraint("pk_artifacts", type_="primary")
    op.execute("DELETE FROM artifacts WHERE attempt <> 1")
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.drop_column("attempt")
        batch_op.create_primary_key("pk_artifacts", ["task_id", "path"])
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        for name in ("attempts", "not_before", "retry_backoff_seconds", "retry_on_exit_codes", "retry_on"):
            batch_op.drop_column(name)
