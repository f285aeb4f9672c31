from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

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
        job_name (str | Unset):
        previous_status (str | Unset):
        worker_id (str | Unset):
    """

    task_id: str
    status: TaskStatus
    job_name: str | Unset = UNSET
    previous_status: str | Unset = UNSET
    worker_id: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        task_id = self.task_id

        status = self.status.value

        job_name = self.job_name

        previous_status = self.previous_status

        worker_id = self.worker_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "task_id": task_id,
                "status": status,
            }
        )
        if job_name is not UNSET:
            field_dict["job_name"] = job_name
        if previous_status is not UNSET:
            field_dict["previous_status"] = previous_status
        if worker_id is not UNSET:
            field_dict["worker_id"] = worker_id

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        task_id = d.pop("task_id")

        status = TaskStatus(d.pop("status"))

        job_name = d.pop("job_name", UNSET)

        previous_status = d.pop("previous_status", UNSET)

        worker_id = d.pop("worker_id", UNSET)

        task_update_data = cls(
            task_id=task_id,
            status=status,
            job_name=job_name,
            previous_status=previous_status,
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
