from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="QueueStatsData")


@_attrs_define
class QueueStatsData:
    """Payload of `queue_stats`: the queue's figures, sent after they changed (at most about once a second
    per server process), counted as `/v1/queue` counts them.

        Attributes:
            queued (int):
            running (int): Tasks running their entrypoint (`preparing` and `collecting` are counted apart).
            workers (int): Active workers.
            preparing (int | Unset):
            collecting (int | Unset):
    """

    queued: int
    running: int
    workers: int
    preparing: int | Unset = UNSET
    collecting: int | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        queued = self.queued

        running = self.running

        workers = self.workers

        preparing = self.preparing

        collecting = self.collecting

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "queued": queued,
                "running": running,
                "workers": workers,
            }
        )
        if preparing is not UNSET:
            field_dict["preparing"] = preparing
        if collecting is not UNSET:
            field_dict["collecting"] = collecting

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        queued = d.pop("queued")

        running = d.pop("running")

        workers = d.pop("workers")

        preparing = d.pop("preparing", UNSET)

        collecting = d.pop("collecting", UNSET)

        queue_stats_data = cls(
            queued=queued,
            running=running,
            workers=workers,
            preparing=preparing,
            collecting=collecting,
        )

        queue_stats_data.additional_properties = d
        return queue_stats_data

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
