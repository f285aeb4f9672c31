from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="SweepStatusCounts")


@_attrs_define
class SweepStatusCounts:
    """The sweep's tasks by status.

    Attributes:
        queued (int):
        preparing (int):
        running (int):
        collecting (int):
        completed (int):
        failed (int):
        cancelled (int):
    """

    queued: int
    preparing: int
    running: int
    collecting: int
    completed: int
    failed: int
    cancelled: int

    def to_dict(self) -> dict[str, Any]:
        queued = self.queued

        preparing = self.preparing

        running = self.running

        collecting = self.collecting

        completed = self.completed

        failed = self.failed

        cancelled = self.cancelled

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

        sweep_status_counts = cls(
            queued=queued,
            preparing=preparing,
            running=running,
            collecting=collecting,
            completed=completed,
            failed=failed,
            cancelled=cancelled,
        )

        return sweep_status_counts
