from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.task_status import TaskStatus

T = TypeVar("T", bound="TaskReportReply")


@_attrs_define
class TaskReportReply:
    """
    Attributes:
        status (TaskStatus): queued → preparing → running → collecting → completed | failed | cancelled.
        progress (float):
        cancel_requested (bool):
    """

    status: TaskStatus
    progress: float
    cancel_requested: bool

    def to_dict(self) -> dict[str, Any]:
        status = self.status.value

        progress = self.progress

        cancel_requested = self.cancel_requested

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "status": status,
                "progress": progress,
                "cancel_requested": cancel_requested,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        status = TaskStatus(d.pop("status"))

        progress = d.pop("progress")

        cancel_requested = d.pop("cancel_requested")

        task_report_reply = cls(
            status=status,
            progress=progress,
            cancel_requested=cancel_requested,
        )

        return task_report_reply
