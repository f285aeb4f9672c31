from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.task_status import TaskStatus

if TYPE_CHECKING:
    from ..models.task_failure_type_0 import TaskFailureType0


T = TypeVar("T", bound="TaskStatusReport")


@_attrs_define
class TaskStatusReport:
    """
    Attributes:
        task_id (str): An opaque identifier.
        status (TaskStatus): queued → preparing → running → collecting → completed | failed | cancelled.
        progress (float):
        message (None | str):
        failure (None | TaskFailureType0): Why a task did not complete; null while it has not failed.
        started_at (datetime.datetime | None):
        updated_at (datetime.datetime):
        ended_at (datetime.datetime | None):
    """

    task_id: str
    status: TaskStatus
    progress: float
    message: None | str
    failure: None | TaskFailureType0
    started_at: datetime.datetime | None
    updated_at: datetime.datetime
    ended_at: datetime.datetime | None

    def to_dict(self) -> dict[str, Any]:
        from ..models.task_failure_type_0 import TaskFailureType0  # noqa: PLC0415

        task_id = self.task_id

        status = self.status.value

        progress = self.progress

        message: None | str
        message = self.message

        failure: dict[str, Any] | None
        if isinstance(self.failure, TaskFailureType0):
            failure = self.failure.to_dict()
        else:
            failure = self.failure

        started_at: None | str
        if isinstance(self.started_at, datetime.datetime):
            started_at = self.started_at.isoformat()
        else:
            started_at = self.started_at

        updated_at = self.updated_at.isoformat()

        ended_at: None | str
        if isinstance(self.ended_at, datetime.datetime):
            ended_at = self.ended_at.isoformat()
        else:
            ended_at = self.ended_at

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "task_id": task_id,
                "status": status,
                "progress": progress,
                "message": message,
                "failure": failure,
                "started_at": started_at,
                "updated_at": updated_at,
                "ended_at": ended_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.task_failure_type_0 import TaskFailureType0  # noqa: PLC0415

        d = dict(src_dict)
        task_id = d.pop("task_id")

        status = TaskStatus(d.pop("status"))

        progress = d.pop("progress")

        def _parse_message(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        message = _parse_message(d.pop("message"))

        def _parse_failure(data: object) -> None | TaskFailureType0:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_task_failure_type_0 = TaskFailureType0.from_dict(data)

                return componentsschemas_task_failure_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | TaskFailureType0, data)

        failure = _parse_failure(d.pop("failure"))

        def _parse_started_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                started_at_type_0 = datetime.datetime.fromisoformat(data)

                return started_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        started_at = _parse_started_at(d.pop("started_at"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        def _parse_ended_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                ended_at_type_0 = datetime.datetime.fromisoformat(data)

                return ended_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        ended_at = _parse_ended_at(d.pop("ended_at"))

        task_status_report = cls(
            task_id=task_id,
            status=status,
            progress=progress,
            message=message,
            failure=failure,
            started_at=started_at,
            updated_at=updated_at,
            ended_at=ended_at,
        )

        return task_status_report
