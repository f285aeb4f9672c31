from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.failure_reason import FailureReason
from ..types import UNSET, Unset

T = TypeVar("T", bound="TaskFailure")


@_attrs_define
class TaskFailure:
    """Why a task did not complete; absent while it has not failed.

    Attributes:
        reason (FailureReason): Why a task failed or was cancelled. `entrypoint_not_found`: the script the entrypoint
            runs (its
            first word ending in `.py`/`.sh`, or the first argument of `python`/`sh`/`bash`) is not in the
            task's code.
        message (str):
        exit_code (int | Unset):
        cancelled_by (str | Unset): The user who cancelled the task.
    """

    reason: FailureReason
    message: str
    exit_code: int | Unset = UNSET
    cancelled_by: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        reason = self.reason.value

        message = self.message

        exit_code = self.exit_code

        cancelled_by = self.cancelled_by

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "reason": reason,
                "message": message,
            }
        )
        if exit_code is not UNSET:
            field_dict["exit_code"] = exit_code
        if cancelled_by is not UNSET:
            field_dict["cancelled_by"] = cancelled_by

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        reason = FailureReason(d.pop("reason"))

        message = d.pop("message")

        exit_code = d.pop("exit_code", UNSET)

        cancelled_by = d.pop("cancelled_by", UNSET)

        task_failure = cls(
            reason=reason,
            message=message,
            exit_code=exit_code,
            cancelled_by=cancelled_by,
        )

        return task_failure
