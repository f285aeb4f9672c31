from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="QueueStats")


@_attrs_define
class QueueStats:
    """
    Attributes:
        queued (int): Tasks waiting to run.
        preparing (int):
        running (int): Tasks running their entrypoint (`preparing` and `collecting` are counted apart).
        collecting (int):
        completed (int): Tasks completed in the last 24 hours.
        failed (int): Tasks failed in the last 24 hours.
        cancelled (int): Tasks cancelled in the last 24 hours.
        workers (int): Active workers.
        timestamp (datetime.datetime):
    """

    queued: int
    preparing: int
    running: int
    collecting: int
    completed: int
    failed: int
    cancelled: int
    workers: int
    timestamp: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        queued = self.queued

        preparing = self.preparing

        running = self.running

        collecting = self.collecting

        completed = self.completed

        failed = self.failed

        cancelled = self.cancelled

        workers = self.workers

        timestamp = self.timestamp.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "queued": queued,
                "preparing": preparing,
                "running": running,
                "collecting": collecting,
                "completed": completed,
                "failed": failed,
                "cancelled": cancelled,
                "workers": workers,
                "timestamp": timestamp,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        queued = d.pop("queued")

        preparing = d.pop("preparing")

        running = d.pop("running")

        collecting = d.pop("collecting")

        completed = d.pop("completed")

        failed = d.pop("failed")

        cancelled = d.pop("cancelled")

        workers = d.pop("workers")

        timestamp = datetime.datetime.fromisoformat(d.pop("timestamp"))

        queue_stats = cls(
            queued=queued,
            preparing=preparing,
            running=running,
            collecting=collecting,
            completed=completed,
            failed=failed,
            cancelled=cancelled,
            workers=workers,
            timestamp=timestamp,
        )

        return queue_stats
