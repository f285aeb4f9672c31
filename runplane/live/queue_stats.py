"""`queue_stats` events: the queue's figures, written to the event log whenever they have changed.

Every process's hub sees every status change (`task_update`) and worker change (`worker_status`) of the
whole service; after one, a hub with a subscriber that can receive the figures (not a task's own stream)
recounts the queue, at most once every `MIN_INTERVAL_SECONDS`, and appends a `queue_stats` event when the
figures differ from the newest one in the log. Live clients (the dashboard's header, a queue monitor)
thus follow the queue without polling `/v1/queue`. Processes that recount at the same moment may each
append the same figures once; for a connected client a figure is never stale for longer than the
interval plus a poll.

A hub nobody could tell counts nothing (a dispatch burst nobody watches paid a count, and often an
event, per process and second); when such a subscriber arrives after changes it left uncounted, it
recounts at once, so the newest figures in the log are right again within the interval. The newest
`queue_stats` in the log may thus be old while no client watches: a client reads `/v1/queue` first.

The payload (`QueueStatsData`): `queued`, `preparing`, `running`, `collecting` (tasks in each state now,
as `/v1/queue` counts them) and `workers` (active workers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from runplane import events
from runplane.lifecycle import LIVE
from runplane.store import event_log

if TYPE_CHECKING:
    from runplane.store.database import Database

MIN_INTERVAL_SECONDS: Final = 1.0
TRIGGERS: Final = frozenset({events.TASK_UPDATE, events.WORKER_STATUS})
"""The topics whose events can change the queue's figures."""
COUNTED: Final = LIVE


async def figures(db: Database) -> dict[str, int]:
    """The queue's figures now (see the module docstring)."""
    return await event_log.queue_figures(db)


async def publish_if_changed(db: Database) -> dict[str, int] | None:
    """Appends a `queue_stats` event when the figures differ from the newest one; returns what it wrote."""
    current = await figures(db)
    if not await event_log.publish_queue_stats_if_changed(db, current):
        return None
    return current
