from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="ClaimRequest")


@_attrs_define
class ClaimRequest:
    """
    Attributes:
        free_slots (int):
        free_cpu (int):
        free_memory_gb (float):
        free_gpus (int):
    """

    free_slots: int
    free_cpu: int
    free_memory_gb: float
    free_gpus: int

    def to_dict(self) -> dict[str, Any]:
        free_slots = self.free_slots

        free_cpu = self.free_cpu

        free_memory_gb = self.free_memory_gb

        free_gpus = self.free_gpus

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "free_slots": free_slots,
                "free_cpu": free_cpu,
                "free_memory_gb": free_memory_gb,
                "free_gpus": free_gpus,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        free_slots = d.pop("free_slots")

        free_cpu = d.pop("free_cpu")

        free_memory_gb = d.pop("free_memory_gb")

        free_gpus = d.pop("free_gpus")

        claim_request = cls(
            free_slots=free_slots,
            free_cpu=free_cpu,
            free_memory_gb=free_memory_gb,
            free_gpus=free_gpus,
        )

        return claim_request
