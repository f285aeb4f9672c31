from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.reservation import Reservation


T = TypeVar("T", bound="ReservationList")


@_attrs_define
class ReservationList:
    """
    Attributes:
        reservations (list[Reservation]):
        total (int):
        limit (int):
        offset (int):
    """

    reservations: list[Reservation]
    total: int
    limit: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        reservations = []
        for reservations_item_data in self.reservations:
            reservations_item = reservations_item_data.to_dict()
            reservations.append(reservations_item)

        total = self.total

        limit = self.limit

        offset = self.offset

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "reservations": reservations,
                "total": total,
                "limit": limit,
                "offset": offset,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.reservation import Reservation  # noqa: PLC0415

        d = dict(src_dict)
        reservations = []
        _reservations = d.pop("reservations")
        for reservations_item_data in _reservations:
            reservations_item = Reservation.from_dict(reservations_item_data)

            reservations.append(reservations_item)

        total = d.pop("total")

        limit = d.pop("limit")

        offset = d.pop("offset")

        reservation_list = cls(
            reservations=reservations,
            total=total,
            limit=limit,
            offset=offset,
        )

        return reservation_list
