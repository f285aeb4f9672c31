from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.event_topic import EventTopic

T = TypeVar("T", bound="ServerSentEvent")


@_attrs_define
class ServerSentEvent:
    """One event of an SSE stream, as framed on the wire: an `id:` line, an `event:` line (the topic) and a
    `data:` line holding the StreamEvent as JSON. Streams also carry `retry:` advice and `:` comments
    (keep-alives), which are not events.

        Attributes:
            id (str): The StreamEvent's id; send it back as Last-Event-ID to resume after it.
            event (EventTopic): The kinds of live events, on SSE (the event name) and WebSocket (the message type).
            data (str): A StreamEvent, as JSON.
    """

    id: str
    event: EventTopic
    data: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        event = self.event.value

        data = self.data

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "event": event,
                "data": data,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        event = EventTopic(d.pop("event"))

        data = d.pop("data")

        server_sent_event = cls(
            id=id,
            event=event,
            data=data,
        )

        server_sent_event.additional_properties = d
        return server_sent_event

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
