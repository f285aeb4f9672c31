from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.gpu_device import GpuDevice


T = TypeVar("T", bound="WorkerCapabilities")


@_attrs_define
class WorkerCapabilities:
    """
    Attributes:
        cpu_cores (int):
        memory_gb (float):
        gpus (list[GpuDevice]):
    """

    cpu_cores: int
    memory_gb: float
    gpus: list[GpuDevice]

    def to_dict(self) -> dict[str, Any]:
        cpu_cores = self.cpu_cores

        memory_gb = self.memory_gb

        gpus = []
        for gpus_item_data in self.gpus:
            gpus_item = gpus_item_data.to_dict()
            gpus.append(gpus_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "cpu_cores": cpu_cores,
                "memory_gb": memory_gb,
                "gpus": gpus,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.gpu_device import GpuDevice  # noqa: PLC0415

        d = dict(src_dict)
        cpu_cores = d.pop("cpu_cores")

        memory_gb = d.pop("memory_gb")

        gpus = []
        _gpus = d.pop("gpus")
        for gpus_item_data in _gpus:
            gpus_item = GpuDevice.from_dict(gpus_item_data)

            gpus.append(gpus_item)

        worker_capabilities = cls(
            cpu_cores=cpu_cores,
            memory_gb=memory_gb,
            gpus=gpus,
        )

        return worker_capabilities
