from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..models.health_status import HealthStatus

if TYPE_CHECKING:
    from ..models.health_check import HealthCheck


T = TypeVar("T", bound="HealthResponse")


@_attrs_define
class HealthResponse:
    """
    Attributes:
        status (HealthStatus):
        version (str):
        timestamp (datetime.datetime):
        checks (list[HealthCheck]):
    """

    status: HealthStatus
    version: str
    timestamp: datetime.datetime
    checks: list[HealthCheck]

    def to_dict(self) -> dict[str, Any]:
        status = self.status.value

        version = self.version

        timestamp = self.timestamp.isoformat()

        checks = []
        for checks_item_data in self.checks:
            checks_item = checks_item_data.to_dict()
            checks.append(checks_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "status": status,
                "version": version,
                "timestamp": timestamp,
                "checks": checks,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.health_check import HealthCheck  # noqa: PLC0415

        d = dict(src_dict)
        status = HealthStatus(d.pop("status"))

        version = d.pop("version")

        timestamp = datetime.datetime.fromisoformat(d.pop("timestamp"))

        checks = []
        _checks = d.pop("checks")
        for checks_item_data in _checks:
            checks_item = HealthCheck.from_dict(checks_item_data)

            checks.append(checks_item)

        health_response = cls(
            status=status,
            version=version,
            timestamp=timestamp,
            checks=checks,
        )

        return health_response
