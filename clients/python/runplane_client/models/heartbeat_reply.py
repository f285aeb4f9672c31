from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.worker_status import WorkerStatus

T = TypeVar("T", bound="HeartbeatReply")


@_attrs_define
class HeartbeatReply:
    """
    Attributes:
        status (WorkerStatus):
        lease_expires_at (datetime.datetime):
        cancel_task_ids (list[str]): Tasks the worker must stop (cancelled by their owner, or no longer its own).
    """

    status: WorkerStatus
    lease_expires_at: datetime.datetime
    cancel_task_ids: list[str]

    def to_dict(self) -> dict[str, Any]:
        status = self.status.value

        lease_expires_at = self.lease_expires_at.isoformat()

        cancel_task_ids = self.cancel_task_ids

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "status": status,
                "lease_expires_at": lease_expires_at,
                "cancel_task_ids": cancel_task_ids,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        status = WorkerStatus(d.pop("status"))

        lease_expires_at = datetime.datetime.fromisoformat(d.pop("lease_expires_at"))

        cancel_task_ids = cast(list[str], d.pop("cancel_task_ids"))

        heartbeat_reply = cls(
            status=status,
            lease_expires_at=lease_expires_at,
            cancel_task_ids=cancel_task_ids,
        )

        return heartbeat_reply
