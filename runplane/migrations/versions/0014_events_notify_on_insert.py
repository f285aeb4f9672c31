"""events_notify_on_insert: on PostgreSQL, an INSERT into `events` sends the live readers' NOTIFY itself

Every process's event reader LISTENs on ``runplane_events`` (`runplane.store.notify`). The notification
was a statement of its own, ``SELECT pg_notify('runplane_events', '')``, run before the commit of every
transaction that wrote events: one more round trip on every task transition. A statement-level trigger
on `events` now sends it as part of the INSERT. PostgreSQL delivers notifications when their transaction
commits (none on rollback) and folds identical ones of a transaction into one, so readers hear exactly
what they heard before. SQLite has no NOTIFY (its processes wake each other, `runplane.live.siblings`):
nothing changes there.

Revision ID: 0014_events_notify_on_insert
Revises: 0013_audit_head_follows_inserts
Create Date: 2026-12-01 00:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0014_events_notify_on_insert"
down_revision = "0013_audit_head_follows_inserts"
branch_labels = None
depends_on = None

# The channel is runplane.store.notify.CHANNEL; a migration keeps the value it was written with.
_FUNCTION = """
CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('runplane_events', '');
    RETURN NULL;
END
$$
"""

_TRIGGER = """
CREATE TRIGGER events_notify AFTER INSERT ON events
FOR EACH STATEMENT EXECUTE FUNCTION events_notify()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTION)
        op.execute(_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_notify ON events")
        op.execute("DROP FUNCTION IF EXISTS events_notify()")
