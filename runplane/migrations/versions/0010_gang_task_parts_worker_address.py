"""gang: multi-node task parts (rank -> worker), rendezvous columns on tasks, worker addresses

Revision ID: 0010_gang
Revises: 0009_secret_names
Create Date: 2026-11-30 03:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import runplane.store.tables

revision = "0010_gang"
down_revision = "0009_secret_names"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_parts",
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("released", sa.Boolean(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("failure_reason", sa.String(length=32), nullable=True),
        sa.Column("message", sa.String(length=1024), nullable=True),
        sa.Column("created_at", runplane.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", runplane.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_parts_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", "attempt", "rank", name=op.f("pk_task_parts")),
    )
    with op.batch_alter_table("task_parts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_task_parts_worker_id_released"), ["worker_id", "released"], unique=False
        )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("master_addr", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("master_port", sa.Integer(), nullable=True))
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.drop_column("address")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("master_port")
        batch_op.drop_column("master_addr")
    with op.batch_alter_table("task_parts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_parts_worker_id_released"))
    op.drop_table("task_parts")
