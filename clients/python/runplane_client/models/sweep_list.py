from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.sweep import Sweep


T = TypeVar("T", bound="SweepList")


@_attrs_define
class SweepList:
    """
    Attributes:
        sweeps (list[Sweep]):
        total (int):
        limit (int):
        offset (int):
    """

    sweeps: list[Sweep]
    total: int
    limit: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        sweeps = []
        for sweeps_item_data in self.sweeps:
            sweeps_item = sweeps_item_data.to_dict()
            sweeps.append(sweeps_item)

        total = self.total

        limit = self.limit

        offset = self.offset

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "sweeps": sweeps,
                "total": total,
                "limit": limit,
                "offset": offset,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.sweep import Sweep  # noqa: PLC0415

        d = dict(src_dict)
        sweeps = []
        _sweeps = d.pop("sweeps")
        for sweeps_item_data in _sweeps:
            sweeps_item = Sweep.from_dict(sweeps_item_data)

            sweeps.append(sweeps_item)

        total = d.pop("total")

        limit = d.pop("limit")

        offset = d.pop("offset")

        sweep_list = cls(
            sweeps=sweeps,
            total=total,
            limit=limit,
            offset=offset,
        )

        return sweep_list
