from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="WorkerLease")


@_attrs_define
class WorkerLease:
    """
    Attributes:
        worker_id (str): An opaque identifier.
        lease_seconds (float):
        heartbeat_seconds (float):
        lease_expires_at (datetime.datetime):
    """

    worker_id: str
    lease_seconds: float
    heartbeat_seconds: float
    lease_expires_at: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        worker_id = self.worker_id

        lease_seconds = self.lease_seconds

        heartbeat_seconds = self.heartbeat_seconds

        lease_expires_at = self.lease_expires_at.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "worker_id": worker_id,
                "lease_seconds": lease_seconds,
                "heartbeat_seconds": heartbeat_seconds,
                "lease_expires_at": lease_expires_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        worker_id = d.pop("worker_id")

        lease_seconds = d.pop("lease_seconds")

        heartbeat_seconds = d.pop("heartbeat_seconds")

        lease_expires_at = datetime.datetime.fromisoformat(d.pop("lease_expires_at"))

        worker_lease = cls(
            worker_id=worker_id,
            lease_seconds=lease_seconds,
            heartbeat_seconds=heartbeat_seconds,
            lease_expires_at=lease_expires_at,
        )

        return worker_lease
