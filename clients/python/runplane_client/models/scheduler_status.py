from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="SchedulerStatus")


@_attrs_define
class SchedulerStatus:
    """
    Attributes:
        workers_total (int):
        workers_active (int):
        workers_draining (int):
        workers_offline (int):
        batch_queue_depth (int): Queued tasks.
        tasks_running (int): Tasks preparing, running or collecting.
        tasks_completed_24h (int):
        tasks_failed_24h (int):
        timestamp (datetime.datetime):
    """

    workers_total: int
    workers_active: int
    workers_draining: int
    workers_offline: int
    batch_queue_depth: int
    tasks_running: int
    tasks_completed_24h: int
    tasks_failed_24h: int
    timestamp: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        workers_total = self.workers_total

        workers_active = self.workers_active

        workers_draining = self.workers_draining

        workers_offline = self.workers_offline

        batch_queue_depth = self.batch_queue_depth

        tasks_running = self.tasks_running

        tasks_completed_24h = self.tasks_completed_24h

        tasks_failed_24h = self.tasks_failed_24h

        timestamp = self.timestamp.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "workers_total": workers_total,
                "workers_active": workers_active,
                "workers_draining": workers_draining,
                "workers_offline": workers_offline,
                "batch_queue_depth": batch_queue_depth,
                "tasks_running": tasks_running,
                "tasks_completed_24h": tasks_completed_24h,
                "tasks_failed_24h": tasks_failed_24h,
                "timestamp": timestamp,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        workers_total = d.pop("workers_total")

        workers_active = d.pop("workers_active")

        workers_draining = d.pop("workers_draining")

        workers_offline = d.pop("workers_offline")

        batch_queue_depth = d.pop("batch_queue_depth")

        tasks_running = d.pop("tasks_running")

        tasks_completed_24h = d.pop("tasks_completed_24h")

        tasks_failed_24h = d.pop("tasks_failed_24h")

        timestamp = datetime.datetime.fromisoformat(d.pop("timestamp"))

        scheduler_status = cls(
            workers_total=workers_total,
            workers_active=workers_active,
            workers_draining=workers_draining,
            workers_offline=workers_offline,
            batch_queue_depth=batch_queue_depth,
            tasks_running=tasks_running,
            tasks_completed_24h=tasks_completed_24h,
            tasks_failed_24h=tasks_failed_24h,
            timestamp=timestamp,
        )

        return scheduler_status
