from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

T = TypeVar("T", bound="AuditChainRoot")


@_attrs_define
class AuditChainRoot:
    """
    Attributes:
        root_hash (str): A SHA-256 digest as 64 lowercase hexadecimal digits.
        timestamp (datetime.datetime | None): When the newest event was recorded; null while the log is empty.
        total_events (int):
    """

    root_hash: str
    timestamp: datetime.datetime | None
    total_events: int

    def to_dict(self) -> dict[str, Any]:
        root_hash = self.root_hash

        timestamp: None | str
        if isinstance(self.timestamp, datetime.datetime):
            timestamp = self.timestamp.isoformat()
        else:
            timestamp = self.timestamp

        total_events = self.total_events

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "root_hash": root_hash,
                "timestamp": timestamp,
                "total_events": total_events,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        root_hash = d.pop("root_hash")

        def _parse_timestamp(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                timestamp_type_0 = datetime.datetime.fromisoformat(data)

                return timestamp_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        timestamp = _parse_timestamp(d.pop("timestamp"))

        total_events = d.pop("total_events")

        audit_chain_root = cls(
            root_hash=root_hash,
            timestamp=timestamp,
            total_events=total_events,
        )

        return audit_chain_root
