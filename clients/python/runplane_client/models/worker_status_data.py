from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.worker_status import WorkerStatus
from ..models.worker_status_data_change import WorkerStatusDataChange
from ..types import UNSET, Unset

T = TypeVar("T", bound="WorkerStatusData")


@_attrs_define
class WorkerStatusData:
    """Payload of `worker_status` (registered, heartbeat lost, draining, offline).

    Attributes:
        worker_id (str): An opaque identifier.
        status (WorkerStatus):
        change (WorkerStatusDataChange):
        name (str | Unset):
    """

    worker_id: str
    status: WorkerStatus
    change: WorkerStatusDataChange
    name: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        worker_id = self.worker_id

        status = self.status.value

        change = self.change.value

        name = self.name

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "worker_id": worker_id,
                "status": status,
                "change": change,
            }
        )
        if name is not UNSET:
            field_dict["name"] = name

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        worker_id = d.pop("worker_id")

        status = WorkerStatus(d.pop("status"))

        change = WorkerStatusDataChange(d.pop("change"))

        name = d.pop("name", UNSET)

        worker_status_data = cls(
            worker_id=worker_id,
            status=status,
            change=change,
            name=name,
        )

        worker_status_data.additional_properties = d
        return worker_status_data

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
