"""audit_head_follows_inserts: the chain head takes each appended event's number and hash in the database

An append (`runplane.store.audit.append`) wrote the event and then, in a statement of its own, gave the
head (`audit_head`) the event's hash. A trigger now does that as part of the INSERT: whenever an INSERT into
``audit_events`` adds an event numbered at or past the head's ``seq``, the head takes that event's ``seq``,
``event_hash`` and ``created_at``. A batch (`append_many`) claims its numbers first (the head's ``seq`` is
then its last event's), so only its last event moves the head; an event appended after a checked head
(SQLite's one-statement append) is numbered one past it and moves it. Events numbered below the head
(none are written so) leave it alone.

SQLite runs the rule per row (``FOR EACH ROW ... WHEN``, one indexed read of the head per event);
PostgreSQL once per statement over the statement's new rows (a transition table). A batch's chunks reach
PostgreSQL as executemany, which psycopg sends as one INSERT per row, so there the trigger too runs once
per event (about 10 % of a 10,000-event `append_many`: 0.38 s against 0.35 s without it); either way the
head row changes once per batch, by its last event, because the rule skips events below the head.

Revision ID: 0013_audit_head_follows_inserts
Revises: 0012_claim_order_index
Create Date: 2026-11-30 23:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0013_audit_head_follows_inserts"
down_revision = "0012_claim_order_index"
branch_labels = None
depends_on = None

_SQLITE_TRIGGER = """
CREATE TRIGGER audit_events_move_head AFTER INSERT ON audit_events
FOR EACH ROW WHEN NEW.seq >= (SELECT seq FROM audit_head WHERE id = 1)
BEGIN
    UPDATE audit_head
    SET seq = NEW.seq, event_hash = NEW.event_hash, updated_at = NEW.created_at
    WHERE id = 1;
END
"""

_POSTGRES_FUNCTION = """
CREATE FUNCTION audit_events_move_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE audit_head AS head
    SET seq = last.seq, event_hash = last.event_hash, updated_at = last.created_at
    FROM (SELECT seq, event_hash, created_at FROM appended ORDER BY seq DESC LIMIT 1) AS last
    WHERE head.id = 1 AND last.seq >= head.seq;
    RETURN NULL;
END
$$
"""

_POSTGRES_TRIGGER = """
CREATE TRIGGER audit_events_move_head AFTER INSERT ON audit_events
REFERENCING NEW TABLE AS appended
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_move_head()
"""


def upgrade() -> None:
    if _postgres():
        op.execute(_POSTGRES_FUNCTION)
        op.execute(_POSTGRES_TRIGGER)
    else:
        op.execute(_SQLITE_TRIGGER)


def downgrade() -> None:
    if _postgres():
        op.execute("DROP TRIGGER IF EXISTS audit_events_move_head ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_move_head()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_move_head")


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"
