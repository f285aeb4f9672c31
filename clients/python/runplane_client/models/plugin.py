from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..models.plugin_mode import PluginMode
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.plugin_config import PluginConfig
    from ..models.plugin_status import PluginStatus


T = TypeVar("T", bound="Plugin")


@_attrs_define
class Plugin:
    """
    Attributes:
        name (str):
        enabled (bool): Whether tasks get the plugin by default (a task may still enable or disable it).
        mode (PluginMode):
        status (PluginStatus):
        config (PluginConfig):
        requires_restart (bool): Always false; a configuration change takes effect without restarting runplane.
        version (str | Unset): The version of the plugin's program on this server, when it has one.
        description (str | Unset):
    """

    name: str
    enabled: bool
    mode: PluginMode
    status: PluginStatus
    config: PluginConfig
    requires_restart: bool
    version: str | Unset = UNSET
    description: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        enabled = self.enabled

        mode = self.mode.value

        status = self.status.to_dict()

        config = self.config.to_dict()

        requires_restart = self.requires_restart

        version = self.version

        description = self.description

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "enabled": enabled,
                "mode": mode,
                "status": status,
                "config": config,
                "requires_restart": requires_restart,
            }
        )
        if version is not UNSET:
            field_dict["version"] = version
        if description is not UNSET:
            field_dict["description"] = description

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.plugin_config import PluginConfig  # noqa: PLC0415
        from ..models.plugin_status import PluginStatus  # noqa: PLC0415

        d = dict(src_dict)
        name = d.pop("name")

        enabled = d.pop("enabled")

        mode = PluginMode(d.pop("mode"))

        status = PluginStatus.from_dict(d.pop("status"))

        config = PluginConfig.from_dict(d.pop("config"))

        requires_restart = d.pop("requires_restart")

        version = d.pop("version", UNSET)

        description = d.pop("description", UNSET)

        plugin = cls(
            name=name,
            enabled=enabled,
            mode=mode,
            status=status,
            config=config,
            requires_restart=requires_restart,
            version=version,
            description=description,
        )

        return plugin
