from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.plugin_status_value import PluginStatusValue
from ..types import UNSET, Unset

T = TypeVar("T", bound="PluginHealth")


@_attrs_define
class PluginHealth:
    """
    Attributes:
        name (str):
        status (PluginStatusValue):
        last_check (datetime.datetime):
        timestamp (datetime.datetime): The same instant as `last_check` (fetch_ml's HealthResponse field).
        url (str | Unset):
        message (str | Unset):
        version (str | Unset):
    """

    name: str
    status: PluginStatusValue
    last_check: datetime.datetime
    timestamp: datetime.datetime
    url: str | Unset = UNSET
    message: str | Unset = UNSET
    version: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        status = self.status.value

        last_check = self.last_check.isoformat()

        timestamp = self.timestamp.isoformat()

        url = self.url

        message = self.message

        version = self.version

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "status": status,
                "last_check": last_check,
                "timestamp": timestamp,
            }
        )
        if url is not UNSET:
            field_dict["url"] = url
        if message is not UNSET:
            field_dict["message"] = message
        if version is not UNSET:
            field_dict["version"] = version

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        status = PluginStatusValue(d.pop("status"))

        last_check = datetime.datetime.fromisoformat(d.pop("last_check"))

        timestamp = datetime.datetime.fromisoformat(d.pop("timestamp"))

        url = d.pop("url", UNSET)

        message = d.pop("message", UNSET)

        version = d.pop("version", UNSET)

        plugin_health = cls(
            name=name,
            status=status,
            last_check=last_check,
            timestamp=timestamp,
            url=url,
            message=message,
            version=version,
        )

        return plugin_health
