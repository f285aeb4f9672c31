"""plugins: tracking plugin configurations, and each task's plugin status

Revision ID: 0008_plugins
Revises: 0007_retries
Create Date: 2026-11-30 03:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import runplane.store.tables

revision = "0008_plugins"
down_revision = "0007_retries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plugins",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.JSON(), nullable=False),
        sa.Column("updated_at", runplane.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_plugins")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plugin_status", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("plugin_status")
    op.drop_table("plugins")
