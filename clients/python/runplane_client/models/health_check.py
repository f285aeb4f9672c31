from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.health_status import HealthStatus
from ..types import UNSET, Unset

T = TypeVar("T", bound="HealthCheck")


@_attrs_define
class HealthCheck:
    """
    Attributes:
        name (str):
        status (HealthStatus):
        message (str):
        latency_ms (float | Unset):
    """

    name: str
    status: HealthStatus
    message: str
    latency_ms: float | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        status = self.status.value

        message = self.message

        latency_ms = self.latency_ms

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "status": status,
                "message": message,
            }
        )
        if latency_ms is not UNSET:
            field_dict["latency_ms"] = latency_ms

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        status = HealthStatus(d.pop("status"))

        message = d.pop("message")

        latency_ms = d.pop("latency_ms", UNSET)

        health_check = cls(
            name=name,
            status=status,
            message=message,
            latency_ms=latency_ms,
        )

        return health_check
