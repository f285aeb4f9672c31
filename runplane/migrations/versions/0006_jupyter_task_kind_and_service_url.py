"""jupyter: a task's kind (task or service) and the URL a service answers on

Revision ID: 0006_jupyter
Revises: 0005_reservations
Create Date: 2026-11-30 01:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_jupyter"
down_revision = "0005_reservations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="task", nullable=False))
        batch_op.add_column(sa.Column("service_url", sa.String(length=2048), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_tasks_kind_user_id_created_at"), ["kind", "user_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_kind_user_id_created_at"))
        batch_op.drop_column("service_url")
        batch_op.drop_column("kind")
