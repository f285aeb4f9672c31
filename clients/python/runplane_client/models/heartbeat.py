from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

T = TypeVar("T", bound="Heartbeat")


@_attrs_define
class Heartbeat:
    """
    Attributes:
        running_task_ids (list[str]):
    """

    running_task_ids: list[str]

    def to_dict(self) -> dict[str, Any]:
        running_task_ids = self.running_task_ids

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "running_task_ids": running_task_ids,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        running_task_ids = cast(list[str], d.pop("running_task_ids"))

        heartbeat = cls(
            running_task_ids=running_task_ids,
        )

        return heartbeat
