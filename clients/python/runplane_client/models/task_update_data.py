from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.task_status import TaskStatus
from ..types import UNSET, Unset

T = TypeVar("T", bound="TaskUpdateData")


@_attrs_define
class TaskUpdateData:
    """Payload of `task_update`, a status change.

    Attributes:
        task_id (str): An opaque identifier.
        status (TaskStatus): queued → preparing → running → collecting → completed | failed | cancelled.
        previous_status (None | str):
        job_name (str | Unset):
        worker_id (None | str | Unset):
    """

    task_id: str
    status: TaskStatus
    previous_status: None | str
    job_name: str | Unset = UNSET
    worker_id: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        task_id = self.task_id

        status = self.status.value

        previous_status: None | str
        previous_status = self.previous_status

        job_name = self.job_name

        worker_id: None | str | Unset
        if isinstance(self.worker_id, Unset):
            worker_id = UNSET
        else:
            worker_id = self.worker_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "task_id": task_id,
                "status": status,
                "previous_status": previous_status,
            }
        )
        if job_name is not UNSET:
            field_dict["job_name"] = job_name
        if worker_id is not UNSET:
            field_dict["worker_id"] = worker_id

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        task_id = d.pop("task_id")

        status = TaskStatus(d.pop("status"))

        def _parse_previous_status(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        previous_status = _parse_previous_status(d.pop("previous_status"))

        job_name = d.pop("job_name", UNSET)

        def _parse_worker_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        worker_id = _parse_worker_id(d.pop("worker_id", UNSET))

        task_update_data = cls(
            task_id=task_id,
            status=status,
            previous_status=previous_status,
            job_name=job_name,
            worker_id=worker_id,
        )

        task_update_data.additional_properties = d
        return task_update_data

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
