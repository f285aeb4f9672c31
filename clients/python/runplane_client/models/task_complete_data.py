from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.task_status import TaskStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.task_failure_type_0 import TaskFailureType0


T = TypeVar("T", bound="TaskCompleteData")


@_attrs_define
class TaskCompleteData:
    """Payload of `task_complete`, a log-free summary of a finished task.

    Attributes:
        task_id (str): An opaque identifier.
        status (TaskStatus): queued → preparing → running → collecting → completed | failed | cancelled.
        failure (None | TaskFailureType0 | Unset): Why a task did not complete; null while it has not failed.
        duration_seconds (float | None | Unset):
    """

    task_id: str
    status: TaskStatus
    failure: None | TaskFailureType0 | Unset = UNSET
    duration_seconds: float | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.task_failure_type_0 import TaskFailureType0  # noqa: PLC0415

        task_id = self.task_id

        status = self.status.value

        failure: dict[str, Any] | None | Unset
        if isinstance(self.failure, Unset):
            failure = UNSET
        elif isinstance(self.failure, TaskFailureType0):
            failure = self.failure.to_dict()
        else:
            failure = self.failure

        duration_seconds: float | None | Unset
        if isinstance(self.duration_seconds, Unset):
            duration_seconds = UNSET
        else:
            duration_seconds = self.duration_seconds

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "task_id": task_id,
                "status": status,
            }
        )
        if failure is not UNSET:
            field_dict["failure"] = failure
        if duration_seconds is not UNSET:
            field_dict["duration_seconds"] = duration_seconds

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.task_failure_type_0 import TaskFailureType0  # noqa: PLC0415

        d = dict(src_dict)
        task_id = d.pop("task_id")

        status = TaskStatus(d.pop("status"))

        def _parse_failure(data: object) -> None | TaskFailureType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_task_failure_type_0 = TaskFailureType0.from_dict(data)

                return componentsschemas_task_failure_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | TaskFailureType0 | Unset, data)

        failure = _parse_failure(d.pop("failure", UNSET))

        def _parse_duration_seconds(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        duration_seconds = _parse_duration_seconds(d.pop("duration_seconds", UNSET))

        task_complete_data = cls(
            task_id=task_id,
            status=status,
            failure=failure,
            duration_seconds=duration_seconds,
        )

        task_complete_data.additional_properties = d
        return task_complete_data

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
