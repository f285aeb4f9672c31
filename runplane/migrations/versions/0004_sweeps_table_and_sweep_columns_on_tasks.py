"""sweeps: sweeps table, sweep columns on tasks

Revision ID: 0004_sweeps
Revises: 0003_audit
Create Date: 2026-11-29 23:58:00.414833
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import runplane.store.tables

revision = "0004_sweeps"
down_revision = "0003_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("job_name", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.String(length=64), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("variation_count", sa.Integer(), nullable=False),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("random_seed", sa.BigInteger(), nullable=False),
        sa.Column("task_count", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", runplane.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", runplane.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweeps")),
    )
    with op.batch_alter_table("sweeps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sweeps_user_id_created_at"), ["user_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sweeps_user_id_idempotency_key"), ["user_id", "idempotency_key"], unique=True
        )

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sweep_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("trial", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("variation_index", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("variation", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("result_summary", sa.JSON(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_tasks_sweep_id_variation_index_trial"),
            ["sweep_id", "variation_index", "trial"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_sweep_id_variation_index_trial"))
        batch_op.drop_column("result_summary")
        batch_op.drop_column("variation")
        batch_op.drop_column("variation_index")
        batch_op.drop_column("trial")
        batch_op.drop_column("sweep_id")

    with op.batch_alter_table("sweeps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sweeps_user_id_idempotency_key"))
        batch_op.drop_index(batch_op.f("ix_sweeps_user_id_created_at"))

    op.drop_table("sweeps")
