from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.failure_reason import FailureReason
from ..types import UNSET, Unset

T = TypeVar("T", bound="TaskFailureType0")


@_attrs_define
class TaskFailureType0:
    """Why a task did not complete; null while it has not failed.

    Attributes:
        reason (FailureReason): Why a task failed or was cancelled.
        message (str):
        exit_code (int | None | Unset):
        cancelled_by (None | str | Unset): The user who cancelled the task.
    """

    reason: FailureReason
    message: str
    exit_code: int | None | Unset = UNSET
    cancelled_by: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        reason = self.reason.value

        message = self.message

        exit_code: int | None | Unset
        if isinstance(self.exit_code, Unset):
            exit_code = UNSET
        else:
            exit_code = self.exit_code

        cancelled_by: None | str | Unset
        if isinstance(self.cancelled_by, Unset):
            cancelled_by = UNSET
        else:
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

        def _parse_exit_code(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        exit_code = _parse_exit_code(d.pop("exit_code", UNSET))

        def _parse_cancelled_by(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        cancelled_by = _parse_cancelled_by(d.pop("cancelled_by", UNSET))

        task_failure_type_0 = cls(
            reason=reason,
            message=message,
            exit_code=exit_code,
            cancelled_by=cancelled_by,
        )

        return task_failure_type_0
