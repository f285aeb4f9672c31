"""audit: the hash-chained audit log and its chain head

Revision ID: 0003_audit
Revises: 0002
Create Date: 2026-11-29 23:59:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import runplane.store.tables

revision = "0003_audit"
down_revision = "0002"
branch_labels = None
depends_on = None

# The chain starts from 64 zeros (runplane.audit.GENESIS_HASH); written here so the head row always exists.
_GENESIS_HASH = "0" * 64


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("created_at", runplane.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("resource", sa.String(length=1200), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("error", sa.String(length=1024), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("event_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_events_event_type_seq"), ["event_type", "seq"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_audit_events_user_id_seq"), ["user_id", "seq"], unique=False)

    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", runplane.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "event_hash": _GENESIS_HASH, "updated_at": None}])


def downgrade() -> None:
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_user_id_seq"))
        batch_op.drop_index(batch_op.f("ix_audit_events_event_type_seq"))
        batch_op.drop_index(batch_op.f("ix_audit_events_created_at"))
    op.drop_table("audit_events")
