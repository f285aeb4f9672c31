"""The event log's topics and the shape of their data (no SQL: the writers are `runplane.store.events`).

Every state change writes one event in the same transaction as the change itself
(`runplane.store.events`); the live streams (`runplane.live`), metrics and dashboards read them.
Topics and their ``data`` are described in `runplane.store.events`.
"""

from __future__ import annotations

from typing import Any, Final

TASK_UPDATE: Final = "task_update"
TASK_PROGRESS: Final = "task_progress"
TASK_COMPLETE: Final = "task_complete"
WORKER_STATUS: Final = "worker_status"
QUEUE_STATS: Final = "queue_stats"
TOPICS: Final = (TASK_UPDATE, TASK_PROGRESS, TASK_COMPLETE, WORKER_STATUS, QUEUE_STATS)


def without_none(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with its None values left out, nested objects included.

    Events keep the shape of every API answer (`handlers.presenters.dump`): a field without a value is
    absent, never null.
    """
    return {
        key: without_none(value) if isinstance(value, dict) else value
        for key, value in data.items()
        if value is not None
    }
