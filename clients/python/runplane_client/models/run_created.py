from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.run_state import RunState

T = TypeVar("T", bound="RunCreated")


@_attrs_define
class RunCreated:
    """
    Attributes:
        run_id (str): An opaque identifier.
        status (RunState): The Model Runner's status words (a cancelled run reads `failed`).
    """

    run_id: str
    status: RunState

    def to_dict(self) -> dict[str, Any]:
        run_id = self.run_id

        status = self.status.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "run_id": run_id,
                "status": status,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        run_id = d.pop("run_id")

        status = RunState(d.pop("status"))

        run_created = cls(
            run_id=run_id,
            status=status,
        )

        return run_created
