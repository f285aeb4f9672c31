from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.worker_capabilities import WorkerCapabilities


T = TypeVar("T", bound="WorkerRegistration")


@_attrs_define
class WorkerRegistration:
    """
    Attributes:
        name (str):
        hostname (str):
        version (str):
        slots (int):
        capabilities (WorkerCapabilities):
        address (str | Unset): The host name or IP address other workers reach this one at (the `MASTER_ADDR` of a
            multi-node
            task whose rank 0 runs here). Default: `hostname`.
    """

    name: str
    hostname: str
    version: str
    slots: int
    capabilities: WorkerCapabilities
    address: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        hostname = self.hostname

        version = self.version

        slots = self.slots

        capabilities = self.capabilities.to_dict()

        address = self.address

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "hostname": hostname,
                "version": version,
                "slots": slots,
                "capabilities": capabilities,
            }
        )
        if address is not UNSET:
            field_dict["address"] = address

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.worker_capabilities import WorkerCapabilities  # noqa: PLC0415

        d = dict(src_dict)
        name = d.pop("name")

        hostname = d.pop("hostname")

        version = d.pop("version")

        slots = d.pop("slots")

        capabilities = WorkerCapabilities.from_dict(d.pop("capabilities"))

        address = d.pop("address", UNSET)

        worker_registration = cls(
            name=name,
            hostname=hostname,
            version=version,
            slots=slots,
            capabilities=capabilities,
            address=address,
        )

        return worker_registration
