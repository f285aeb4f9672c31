"""claim_order_index: the queue's index ends with the task id, the claim's last ordering key

A claim walks the queue's priority levels along this index (`runplane.store.claim.choice_statement`) and
takes, within a level, the first task by (queued_at, id). With id in the index the database reads that
first task straight off it; without, PostgreSQL sorted the whole level to break ties on id.

Revision ID: 0012_claim_order_index
Revises: 0011_plugins_open
Create Date: 2026-11-30 21:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0012_claim_order_index"
down_revision = "0011_plugins_open"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_tasks_status_priority_queued_at", table_name="tasks")
    op.create_index(
        "ix_tasks_status_priority_queued_at_id",
        "tasks",
        ["status", "priority", "queued_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_status_priority_queued_at_id", table_name="tasks")
    op.create_index(
        "ix_tasks_status_priority_queued_at", "tasks", ["status", "priority", "queued_at"], unique=False
    )
