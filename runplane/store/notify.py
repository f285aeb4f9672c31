"""Wake-ups for the event readers when a transaction that wrote events commits.

`runplane.events.record` calls `mark(session)`. When that session commits:

- on PostgreSQL, the INSERT into `events` itself sends ``pg_notify('runplane_events', '')`` (a trigger,
  migration 0014), so the notification is delivered exactly when the events become visible (and not at
  all on rollback), with no statement of its own; PostgreSQL folds identical notifications of one
  transaction into one. Every process's hub LISTENs.
- in this process, every registered listener is called after the commit (the hub of this process wakes
  at once, which is what keeps SQLite's latency low; other processes on SQLite poll).

Both are hints: a lost notification only delays delivery until the next poll, never loses an event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

CHANNEL: Final = "runplane_events"
_PENDING: Final = "runplane.live.events_pending"

logger = logging.getLogger("runplane.live")

_listeners: list[Callable[[], None]] = []


def mark(session: AsyncSession | Session) -> None:
    """Remember that `session`'s current transaction wrote events (called by `events.record`)."""
    session.info[_PENDING] = True


def add_listener(listener: Callable[[], None]) -> None:
    """Call `listener()` after each commit in this process that wrote events (must not block)."""
    _listeners.append(listener)


def remove_listener(listener: Callable[[], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


@event.listens_for(Session, "after_commit")
def _wake_local(session: Session) -> None:
    if not session.info.pop(_PENDING, False):
        return
    for listener in tuple(_listeners):
        try:
            listener()
        except Exception:  # a listener's bug must never fail a commit that already happened
            logger.exception("event listener failed")


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
