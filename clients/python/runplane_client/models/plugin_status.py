from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.plugin_status_value import PluginStatusValue
from ..types import UNSET, Unset

T = TypeVar("T", bound="PluginStatus")


@_attrs_define
class PluginStatus:
    """
    Attributes:
        name (str):
        status (PluginStatusValue):
        url (str | Unset): Where to look at the plugin's view of the task (or the plugin's server).
        last_check (datetime.datetime | Unset): When this status was checked (the claim, then every
            `plugin_status_seconds` while the task runs, then when the task ended).
        message (str | Unset): Why it is unhealthy, or what was checked.
        run_id (str | Unset): The task's run in the plugin (MLflow run id, W&B run id), when it has one.
    """

    name: str
    status: PluginStatusValue
    url: str | Unset = UNSET
    last_check: datetime.datetime | Unset = UNSET
    message: str | Unset = UNSET
    run_id: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        status = self.status.value

        url = self.url

        last_check: str | Unset = UNSET
        if not isinstance(self.last_check, Unset):
            last_check = self.last_check.isoformat()

        message = self.message

        run_id = self.run_id

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "status": status,
            }
        )
        if url is not UNSET:
            field_dict["url"] = url
        if last_check is not UNSET:
            field_dict["last_check"] = last_check
        if message is not UNSET:
            field_dict["message"] = message
        if run_id is not UNSET:
            field_dict["run_id"] = run_id

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        status = PluginStatusValue(d.pop("status"))

        url = d.pop("url", UNSET)

        _last_check = d.pop("last_check", UNSET)
        last_check: datetime.datetime | Unset
        if isinstance(_last_check, Unset):
            last_check = UNSET
        else:
            last_check = datetime.datetime.fromisoformat(_last_check)

        message = d.pop("message", UNSET)

        run_id = d.pop("run_id", UNSET)

        plugin_status = cls(
            name=name,
            status=status,
            url=url,
            last_check=last_check,
            message=message,
            run_id=run_id,
        )

        return plugin_status
