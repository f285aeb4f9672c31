from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.run_state import RunState
from ..types import UNSET, Unset

T = TypeVar("T", bound="RunStatus")


@_attrs_define
class RunStatus:
    """
    Attributes:
        run_id (str): An opaque identifier.
        status (RunState): The Model Runner's status words (a cancelled run reads `failed`).
        progress (int):
        updated_at (datetime.datetime):
        message (str | Unset):
        started_at (datetime.datetime | Unset):
    """

    run_id: str
    status: RunState
    progress: int
    updated_at: datetime.datetime
    message: str | Unset = UNSET
    started_at: datetime.datetime | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        run_id = self.run_id

        status = self.status.value

        progress = self.progress

        updated_at = self.updated_at.isoformat()

        message = self.message

        started_at: str | Unset = UNSET
        if not isinstance(self.started_at, Unset):
            started_at = self.started_at.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "run_id": run_id,
                "status": status,
                "progress": progress,
                "updated_at": updated_at,
            }
        )
        if message is not UNSET:
            field_dict["message"] = message
        if started_at is not UNSET:
            field_dict["started_at"] = started_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        run_id = d.pop("run_id")

        status = RunState(d.pop("status"))

        progress = d.pop("progress")

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        message = d.pop("message", UNSET)

        _started_at = d.pop("started_at", UNSET)
        started_at: datetime.datetime | Unset
        if isinstance(_started_at, Unset):
            started_at = UNSET
        else:
            started_at = datetime.datetime.fromisoformat(_started_at)

        run_status = cls(
            run_id=run_id,
            status=status,
            progress=progress,
            updated_at=updated_at,
            message=message,
            started_at=started_at,
        )

        return run_status
