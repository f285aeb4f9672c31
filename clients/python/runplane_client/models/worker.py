from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.worker_status import WorkerStatus

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
        gpu_type (None | str):
        slots (WorkerSlots):
        active_tasks (list[str]): Ids of the tasks the worker is running.
        connected_at (datetime.datetime):
        last_heartbeat (datetime.datetime):
        lease_expires_at (datetime.datetime):
    """

    id: str
    name: str
    hostname: str
    status: WorkerStatus
    version: str
    capabilities: WorkerCapabilities
    gpu_count: int
    gpu_type: None | str
    slots: WorkerSlots
    active_tasks: list[str]
    connected_at: datetime.datetime
    last_heartbeat: datetime.datetime
    lease_expires_at: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        name = self.name

        hostname = self.hostname

        status = self.status.value

        version = self.version

        capabilities = self.capabilities.to_dict()

        gpu_count = self.gpu_count

        gpu_type: None | str
        gpu_type = self.gpu_type

        slots = self.slots.to_dict()

        active_tasks = self.active_tasks

        connected_at = self.connected_at.isoformat()

        last_heartbeat = self.last_heartbeat.isoformat()

        lease_expires_at = self.lease_expires_at.isoformat()

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
                "gpu_type": gpu_type,
                "slots": slots,
                "active_tasks": active_tasks,
                "connected_at": connected_at,
                "last_heartbeat": last_heartbeat,
                "lease_expires_at": lease_expires_at,
            }
        )

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

        def _parse_gpu_type(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        gpu_type = _parse_gpu_type(d.pop("gpu_type"))

        slots = WorkerSlots.from_dict(d.pop("slots"))

        active_tasks = cast(list[str], d.pop("active_tasks"))

        connected_at = datetime.datetime.fromisoformat(d.pop("connected_at"))

        last_heartbeat = datetime.datetime.fromisoformat(d.pop("last_heartbeat"))

        lease_expires_at = datetime.datetime.fromisoformat(d.pop("lease_expires_at"))

        worker = cls(
            id=id,
            name=name,
            hostname=hostname,
            status=status,
            version=version,
            capabilities=capabilities,
            gpu_count=gpu_count,
            gpu_type=gpu_type,
            slots=slots,
            active_tasks=active_tasks,
            connected_at=connected_at,
            last_heartbeat=last_heartbeat,
            lease_expires_at=lease_expires_at,
        )

        return worker
