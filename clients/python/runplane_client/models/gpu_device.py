from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="GpuDevice")


@_attrs_define
class GpuDevice:
    """
    Attributes:
        index (int):
        name (str):
        memory_mb (int):
        uuid (str | Unset):
    """

    index: int
    name: str
    memory_mb: int
    uuid: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        index = self.index

        name = self.name

        memory_mb = self.memory_mb

        uuid = self.uuid

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "index": index,
                "name": name,
                "memory_mb": memory_mb,
            }
        )
        if uuid is not UNSET:
            field_dict["uuid"] = uuid

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        index = d.pop("index")

        name = d.pop("name")

        memory_mb = d.pop("memory_mb")

        uuid = d.pop("uuid", UNSET)

        gpu_device = cls(
            index=index,
            name=name,
            memory_mb=memory_mb,
            uuid=uuid,
        )

        return gpu_device
