from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.worker_status import WorkerStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.worker_capabilities import WorkerCapabilities
    from ..models.worker_slots import WorkerSlots


T = TypeVar("T", bound="Worker")


@_attrs_define
class Worker:
    """
    Attributes:
        id (str): An opaque identifier.
        name (str):
        hostname (str):
        status (WorkerStatus):
        version (str):
        capabilities (WorkerCapabilities):
        gpu_count (int):
        slots (WorkerSlots):
        active_tasks (list[str]): Ids of the tasks the worker is running.
        connected_at (datetime.datetime):
        last_heartbeat (datetime.datetime):
        lease_expires_at (datetime.datetime):
        address (str | Unset): Where other workers reach it (multi-node tasks' `MASTER_ADDR`).
        gpu_type (str | Unset):
        replaced_by (str | Unset): An opaque identifier.
    """

    id: str
    name: str
    hostname: str
    status: WorkerStatus
    version: str
    capabilities: WorkerCapabilities
    gpu_count: int
    slots: WorkerSlots
    active_tasks: list[str]
    connected_at: datetime.datetime
    last_heartbeat: datetime.datetime
    lease_expires_at: datetime.datetime
    address: str | Unset = UNSET
    gpu_type: str | Unset = UNSET
    replaced_by: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        name = self.name

        hostname = self.hostname

        status = self.status.value

        version = self.version

        capabilities = self.capabilities.to_dict()

        gpu_count = self.gpu_count

        slots = self.slots.to_dict()

        active_tasks = self.active_tasks

        connected_at = self.connected_at.isoformat()

        last_heartbeat = self.last_heartbeat.isoformat()

        lease_expires_at = self.lease_expires_at.isoformat()

        address = self.address

        gpu_type = self.gpu_type

        replaced_by = self.replaced_by

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "name": name,
                "hostname": hostname,
                "status": status,
                "version": version,
                "capabilities": capabilities,
                "gpu_count": gpu_count,
                "slots": slots,
                "active_tasks": active_tasks,
                "connected_at": connected_at,
                "last_heartbeat": last_heartbeat,
                "lease_expires_at": lease_expires_at,
            }
        )
        if address is not UNSET:
            field_dict["address"] = address
        if gpu_type is not UNSET:
            field_dict["gpu_type"] = gpu_type
        if replaced_by is not UNSET:
            field_dict["replaced_by"] = replaced_by

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.worker_capabilities import WorkerCapabilities  # noqa: PLC0415
        from ..models.worker_slots import WorkerSlots  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        name = d.pop("name")

        hostname = d.pop("hostname")

        status = WorkerStatus(d.pop("status"))

        version = d.pop("version")

        capabilities = WorkerCapabilities.from_dict(d.pop("capabilities"))

        gpu_count = d.pop("gpu_count")

        slots = WorkerSlots.from_dict(d.pop("slots"))

        active_tasks = cast(list[str], d.pop("active_tasks"))

        connected_at = datetime.datetime.fromisoformat(d.pop("connected_at"))

        last_heartbeat = datetime.datetime.fromisoformat(d.pop("last_heartbeat"))

        lease_expires_at = datetime.datetime.fromisoformat(d.pop("lease_expires_at"))

        address = d.pop("address", UNSET)

        gpu_type = d.pop("gpu_type", UNSET)

        replaced_by = d.pop("replaced_by", UNSET)

        worker = cls(
            id=id,
            name=name,
            hostname=hostname,
            status=status,
            version=version,
            capabilities=capabilities,
            gpu_count=gpu_count,
            slots=slots,
            active_tasks=active_tasks,
            connected_at=connected_at,
            last_heartbeat=last_heartbeat,
            lease_expires_at=lease_expires_at,
            address=address,
            gpu_type=gpu_type,
            replaced_by=replaced_by,
        )

        return worker
