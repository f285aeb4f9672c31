from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="SweepCancellation")


@_attrs_define
class SweepCancellation:
    """
    Attributes:
        sweep_id (str): An opaque identifier.
        cancelled (int): Queued tasks cancelled at once.
        stopping (int): Started tasks whose workers were asked to stop them.
    """

    sweep_id: str
    cancelled: int
    stopping: int

    def to_dict(self) -> dict[str, Any]:
        sweep_id = self.sweep_id

        cancelled = self.cancelled

        stopping = self.stopping

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "sweep_id": sweep_id,
                "cancelled": cancelled,
                "stopping": stopping,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        sweep_id = d.pop("sweep_id")

        cancelled = d.pop("cancelled")

        stopping = d.pop("stopping")

        sweep_cancellation = cls(
            sweep_id=sweep_id,
            cancelled=cancelled,
            stopping=stopping,
        )

        return sweep_cancellation
