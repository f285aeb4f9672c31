from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.run_state import RunState

T = TypeVar("T", bound="RunStatus")


@_attrs_define
class RunStatus:
    """
    Attributes:
        run_id (str): An opaque identifier.
        status (RunState): The Model Runner's status words (a cancelled run reads `failed`).
        progress (int):
        message (None | str):
        started_at (datetime.datetime | None):
        updated_at (datetime.datetime):
    """

    run_id: str
    status: RunState
    progress: int
    message: None | str
    started_at: datetime.datetime | None
    updated_at: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        run_id = self.run_id

        status = self.status.value

        progress = self.progress

        message: None | str
        message = self.message

        started_at: None | str
        if isinstance(self.started_at, datetime.datetime):
            started_at = self.started_at.isoformat()
        else:
            started_at = self.started_at

        updated_at = self.updated_at.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "run_id": run_id,
                "status": status,
                "progress": progress,
                "message": message,
                "started_at": started_at,
                "updated_at": updated_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        run_id = d.pop("run_id")

        status = RunState(d.pop("status"))

        progress = d.pop("progress")

        def _parse_message(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        message = _parse_message(d.pop("message"))

        def _parse_started_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                started_at_type_0 = datetime.datetime.fromisoformat(data)

                return started_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        started_at = _parse_started_at(d.pop("started_at"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        run_status = cls(
            run_id=run_id,
            status=status,
            progress=progress,
            message=message,
            started_at=started_at,
            updated_at=updated_at,
        )

        return run_status
