from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.error_response import ErrorResponse
    from ..models.task_report_reply import TaskReportReply


T = TypeVar("T", bound="ClaimReportResult")


@_attrs_define
class ClaimReportResult:
    """How a report carried by a claim went: `status` is what the report operation would have answered
    (200, or its 400, 404 or 409), with the task's reply (`task`) on 200, the uniform error body
    (`error`) otherwise.

        Attributes:
            task_id (str): An opaque identifier.
            status (int):
            task (TaskReportReply | Unset):
            error (ErrorResponse | Unset): The one error body of every non-2xx answer.
    """

    task_id: str
    status: int
    task: TaskReportReply | Unset = UNSET
    error: ErrorResponse | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        task_id = self.task_id

        status = self.status

        task: dict[str, Any] | Unset = UNSET
        if not isinstance(self.task, Unset):
            task = self.task.to_dict()

        error: dict[str, Any] | Unset = UNSET
        if not isinstance(self.error, Unset):
            error = self.error.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "task_id": task_id,
                "status": status,
            }
        )
        if task is not UNSET:
            field_dict["task"] = task
        if error is not UNSET:
            field_dict["error"] = error

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.error_response import ErrorResponse  # noqa: PLC0415
        from ..models.task_report_reply import TaskReportReply  # noqa: PLC0415

        d = dict(src_dict)
        task_id = d.pop("task_id")

        status = d.pop("status")

        _task = d.pop("task", UNSET)
        task: TaskReportReply | Unset
        if isinstance(_task, Unset):
            task = UNSET
        else:
            task = TaskReportReply.from_dict(_task)

        _error = d.pop("error", UNSET)
        error: ErrorResponse | Unset
        if isinstance(_error, Unset):
            error = UNSET
        else:
            error = ErrorResponse.from_dict(_error)

        claim_report_result = cls(
            task_id=task_id,
            status=status,
            task=task,
            error=error,
        )

        return claim_report_result
