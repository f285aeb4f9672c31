from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.task_status import TaskStatus
from ..types import UNSET, Unset

T = TypeVar("T", bound="TaskAttempt")


@_attrs_define
class TaskAttempt:
    """One run of a task; an ended attempt keeps how it ended.

    Attributes:
        attempt (int):
        status (TaskStatus): queued → preparing → running → collecting → completed | failed | cancelled.
        failure_reason (str | Unset): Why the attempt failed or was cancelled (a `FailureReason`); absent while it has
            not.
        failure_message (str | Unset):
        exit_code (int | Unset):
        worker_id (str | Unset):
        started_at (datetime.datetime | Unset):
        ended_at (datetime.datetime | Unset):
    """

    attempt: int
    status: TaskStatus
    failure_reason: str | Unset = UNSET
    failure_message: str | Unset = UNSET
    exit_code: int | Unset = UNSET
    worker_id: str | Unset = UNSET
    started_at: datetime.datetime | Unset = UNSET
    ended_at: datetime.datetime | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        attempt = self.attempt

        status = self.status.value

        failure_reason = self.failure_reason

        failure_message = self.failure_message

        exit_code = self.exit_code

        worker_id = self.worker_id

        started_at: str | Unset = UNSET
        if not isinstance(self.started_at, Unset):
            started_at = self.started_at.isoformat()

        ended_at: str | Unset = UNSET
        if not isinstance(self.ended_at, Unset):
            ended_at = self.ended_at.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "attempt": attempt,
                "status": status,
            }
        )
        if failure_reason is not UNSET:
            field_dict["failure_reason"] = failure_reason
        if failure_message is not UNSET:
            field_dict["failure_message"] = failure_message
        if exit_code is not UNSET:
            field_dict["exit_code"] = exit_code
        if worker_id is not UNSET:
            field_dict["worker_id"] = worker_id
        if started_at is not UNSET:
            field_dict["started_at"] = started_at
        if ended_at is not UNSET:
            field_dict["ended_at"] = ended_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        attempt = d.pop("attempt")

        status = TaskStatus(d.pop("status"))

        failure_reason = d.pop("failure_reason", UNSET)

        failure_message = d.pop("failure_message", UNSET)

        exit_code = d.pop("exit_code", UNSET)

        worker_id = d.pop("worker_id", UNSET)

        _started_at = d.pop("started_at", UNSET)
        started_at: datetime.datetime | Unset
        if isinstance(_started_at, Unset):
            started_at = UNSET
        else:
            started_at = datetime.datetime.fromisoformat(_started_at)

        _ended_at = d.pop("ended_at", UNSET)
        ended_at: datetime.datetime | Unset
        if isinstance(_ended_at, Unset):
            ended_at = UNSET
        else:
            ended_at = datetime.datetime.fromisoformat(_ended_at)

        task_attempt = cls(
            attempt=attempt,
            status=status,
            failure_reason=failure_reason,
            failure_message=failure_message,
            exit_code=exit_code,
            worker_id=worker_id,
            started_at=started_at,
            ended_at=ended_at,
        )

        return task_attempt
