"""reservations: capacity held for a user on specific workers

Revision ID: 0005_reservations
Revises: 0004_sweeps
Create Date: 2026-11-30 00:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import runplane.store.tables

revision = "0005_reservations"
down_revision = "0004_sweeps"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reservations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("gpu_count", sa.Integer(), nullable=False),
        sa.Column("gpu_type", sa.String(length=64), nullable=True),
        sa.Column("node_count", sa.Integer(), nullable=False),
        sa.Column("cpu", sa.Integer(), nullable=False),
        sa.Column("memory_gb", sa.Float(), nullable=False),
        sa.Column("starts_at", runplane.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", runplane.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", runplane.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", runplane.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
    )
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reservations_status_expires_at"), ["status", "expires_at"])
        batch_op.create_index(batch_op.f("ix_reservations_user_id_created_at"), ["user_id", "created_at"])
    op.create_table(
        "reservation_workers",
        sa.Column("reservation_id", sa.String(length=32), nullable=False),
        sa.Column("worker_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservations.id"],
            name=op.f("fk_reservation_workers_reservation_id_reservations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("reservation_id", "worker_id", name=op.f("pk_reservation_workers")),
    )
    with op.batch_alter_table("reservation_workers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reservation_workers_worker_id"), ["worker_id"])
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_reservation_id"), ["reservation_id"])


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_reservation_id"))
    with op.batch_alter_table("reservation_workers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reservation_workers_worker_id"))
    op.drop_table("reservation_workers")
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reservations_user_id_created_at"))
        batch_op.drop_index(batch_op.f("ix_reservations_status_expires_at"))
    op.drop_table("reservations")
