from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.failure_reason import FailureReason
from ..models.reported_status import ReportedStatus
from ..types import UNSET, Unset

T = TypeVar("T", bound="TaskReport")


@_attrs_define
class TaskReport:
    """
    Attributes:
        status (ReportedStatus | Unset):
        progress (float | Unset):
        message (str | Unset):
        failure_reason (FailureReason | Unset): Why a task failed or was cancelled.
        exit_code (int | Unset):
    """

    status: ReportedStatus | Unset = UNSET
    progress: float | Unset = UNSET
    message: str | Unset = UNSET
    failure_reason: FailureReason | Unset = UNSET
    exit_code: int | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        status: str | Unset = UNSET
        if not isinstance(self.status, Unset):
            status = self.status.value

        progress = self.progress

        message = self.message

        failure_reason: str | Unset = UNSET
        if not isinstance(self.failure_reason, Unset):
            failure_reason = self.failure_reason.value

        exit_code = self.exit_code

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if status is not UNSET:
            field_dict["status"] = status
        if progress is not UNSET:
            field_dict["progress"] = progress
        if message is not UNSET:
            field_dict["message"] = message
        if failure_reason is not UNSET:
            field_dict["failure_reason"] = failure_reason
        if exit_code is not UNSET:
            field_dict["exit_code"] = exit_code

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        _status = d.pop("status", UNSET)
        status: ReportedStatus | Unset
        if isinstance(_status, Unset):
            status = UNSET
        else:
            status = ReportedStatus(_status)

        progress = d.pop("progress", UNSET)

        message = d.pop("message", UNSET)

        _failure_reason = d.pop("failure_reason", UNSET)
        failure_reason: FailureReason | Unset
        if isinstance(_failure_reason, Unset):
            failure_reason = UNSET
        else:
            failure_reason = FailureReason(_failure_reason)

        exit_code = d.pop("exit_code", UNSET)

        task_report = cls(
            status=status,
            progress=progress,
            message=message,
            failure_reason=failure_reason,
            exit_code=exit_code,
        )

        return task_report
