from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.reservation_status import ReservationStatus
from ..types import UNSET, Unset

T = TypeVar("T", bound="Reservation")


@_attrs_define
class Reservation:
    """
    Attributes:
        id (str): An opaque identifier.
        user_id (str): The user a key acts for.
        status (ReservationStatus): `active`: holding its capacity (or waiting for `starts_at`); `claimed`: active with
            a task of it
            running; `expired`: `expires_at` has passed; `cancelled`: released by its owner or an admin.
        gpu_count (int):
        node_count (int):
        cpu (int):
        memory_gb (float):
        worker_ids (list[str]): The workers the capacity is held on (one per node).
        active_task_ids (list[str]): The caller-visible tasks running in the reservation now.
        starts_at (datetime.datetime):
        expires_at (datetime.datetime):
        created_at (datetime.datetime):
        gpu_type (str | Unset):
        ended_at (datetime.datetime | Unset): When it was cancelled or expired.
    """

    id: str
    user_id: str
    status: ReservationStatus
    gpu_count: int
    node_count: int
    cpu: int
    memory_gb: float
    worker_ids: list[str]
    active_task_ids: list[str]
    starts_at: datetime.datetime
    expires_at: datetime.datetime
    created_at: datetime.datetime
    gpu_type: str | Unset = UNSET
    ended_at: datetime.datetime | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        user_id = self.user_id

        status = self.status.value

        gpu_count = self.gpu_count

        node_count = self.node_count

        cpu = self.cpu

        memory_gb = self.memory_gb

        worker_ids = self.worker_ids

        active_task_ids = self.active_task_ids

        starts_at = self.starts_at.isoformat()

        expires_at = self.expires_at.isoformat()

        created_at = self.created_at.isoformat()

        gpu_type = self.gpu_type

        ended_at: str | Unset = UNSET
        if not isinstance(self.ended_at, Unset):
            ended_at = self.ended_at.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "user_id": user_id,
                "status": status,
                "gpu_count": gpu_count,
                "node_count": node_count,
                "cpu": cpu,
                "memory_gb": memory_gb,
                "worker_ids": worker_ids,
                "active_task_ids": active_task_ids,
                "starts_at": starts_at,
                "expires_at": expires_at,
                "created_at": created_at,
            }
        )
        if gpu_type is not UNSET:
            field_dict["gpu_type"] = gpu_type
        if ended_at is not UNSET:
            field_dict["ended_at"] = ended_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        user_id = d.pop("user_id")

        status = ReservationStatus(d.pop("status"))

        gpu_count = d.pop("gpu_count")

        node_count = d.pop("node_count")

        cpu = d.pop("cpu")

        memory_gb = d.pop("memory_gb")

        worker_ids = cast(list[str], d.pop("worker_ids"))

        active_task_ids = cast(list[str], d.pop("active_task_ids"))

        starts_at = datetime.datetime.fromisoformat(d.pop("starts_at"))

        expires_at = datetime.datetime.fromisoformat(d.pop("expires_at"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        gpu_type = d.pop("gpu_type", UNSET)

        _ended_at = d.pop("ended_at", UNSET)
        ended_at: datetime.datetime | Unset
        if isinstance(_ended_at, Unset):
            ended_at = UNSET
        else:
            ended_at = datetime.datetime.fromisoformat(_ended_at)

        reservation = cls(
            id=id,
            user_id=user_id,
            status=status,
            gpu_count=gpu_count,
            node_count=node_count,
            cpu=cpu,
            memory_gb=memory_gb,
            worker_ids=worker_ids,
            active_task_ids=active_task_ids,
            starts_at=starts_at,
            expires_at=expires_at,
            created_at=created_at,
            gpu_type=gpu_type,
            ended_at=ended_at,
        )

        return reservation
