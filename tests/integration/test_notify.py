"""Wake-ups of the event readers (runplane.store.notify): a commit that wrote events wakes this process's
listeners once, and on PostgreSQL every LISTENing connection (the INSERT's trigger, migration 0014); a
rolled-back transaction wakes nobody."""

from __future__ import annotations

import psycopg
import pytest

from runplane.events import TASK_PROGRESS
from runplane.store import events, notify
from runplane.store.database import Database
from runplane.store.event_log import EventLog

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


class Abort(Exception):
    pass


async def _write_events(db: Database, *, commit: bool) -> None:
    """Two events in one transaction (two INSERTs), committed or rolled back."""
    try:
        async with db.session() as session:
            for n in range(2):
                await events.record(session, topic=TASK_PROGRESS, data={"task_id": "t", "progress": n})
            if not commit:
                raise Abort
    except Abort:
        pass


async def test_a_commit_that_wrote_events_wakes_listeners_once_and_a_rollback_none(db: Database):
    woken: list[None] = []

    def listener() -> None:
        woken.append(None)

    listen: psycopg.AsyncConnection[object] | None = None
    if db.backend == "postgresql":
        listen = await psycopg.AsyncConnection.connect(EventLog(db).listen_dsn(), autocommit=True)
        await listen.execute(f"LISTEN {notify.CHANNEL}")
    notify.add_listener(listener)
    try:
        await _write_events(db, commit=False)
        assert woken == []
        await _write_events(db, commit=True)
        assert woken == [None]
        if listen is not None:
            heard = [n async for n in listen.notifies(timeout=60, stop_after=1)]
            assert [n.channel for n in heard] == [notify.CHANNEL]
            # Whatever else was sent is read with the next answer: a rolled-back transaction's would have
            # come first, and both INSERTs of the committed one are folded into the one notification.
            await listen.execute("SELECT 1")
            assert [n async for n in listen.notifies(timeout=0.01)] == []
    finally:
        notify.remove_listener(listener)
        if listen is not None:
            await listen.close()
