from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="WorkerSlots")


@_attrs_define
class WorkerSlots:
    """
    Attributes:
        total (int):
        available (int):
    """

    total: int
    available: int

    def to_dict(self) -> dict[str, Any]:
        total = self.total

        available = self.available

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "total": total,
                "available": available,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        total = d.pop("total")

        available = d.pop("available")

        worker_slots = cls(
            total=total,
            available=available,
        )

        return worker_slots
