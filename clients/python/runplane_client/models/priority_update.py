from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="PriorityUpdate")


@_attrs_define
class PriorityUpdate:
    """
    Attributes:
        priority (int):
    """

    priority: int

    def to_dict(self) -> dict[str, Any]:
        priority = self.priority

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "priority": priority,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        priority = d.pop("priority")

        priority_update = cls(
            priority=priority,
        )

        return priority_update
