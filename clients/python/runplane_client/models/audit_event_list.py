from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.audit_event import AuditEvent


T = TypeVar("T", bound="AuditEventList")


@_attrs_define
class AuditEventList:
    """
    Attributes:
        events (list[AuditEvent]):
        total (int):
        limit (int):
        offset (int):
    """

    events: list[AuditEvent]
    total: int
    limit: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        events = []
        for events_item_data in self.events:
            events_item = events_item_data.to_dict()
            events.append(events_item)

        total = self.total

        limit = self.limit

        offset = self.offset

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "events": events,
                "total": total,
                "limit": limit,
                "offset": offset,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.audit_event import AuditEvent  # noqa: PLC0415

        d = dict(src_dict)
        events = []
        _events = d.pop("events")
        for events_item_data in _events:
            events_item = AuditEvent.from_dict(events_item_data)

            events.append(events_item)

        total = d.pop("total")

        limit = d.pop("limit")

        offset = d.pop("offset")

        audit_event_list = cls(
            events=events,
            total=total,
            limit=limit,
            offset=offset,
        )

        return audit_event_list
