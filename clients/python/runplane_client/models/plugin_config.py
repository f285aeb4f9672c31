from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.plugin_mode import PluginMode
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.plugin_config_settings import PluginConfigSettings


T = TypeVar("T", bound="PluginConfig")


@_attrs_define
class PluginConfig:
    """
    Attributes:
        enabled (bool | Unset):
        mode (PluginMode | Unset):
        image (str | Unset):
        settings (PluginConfigSettings | Unset): The plugin's settings (docs/plugins.md lists them). Secret ones
            (`api_key`, `password`, `token`)
            are write-only: never returned, logged, audited or written to artifacts.
        secret_names (list[str] | Unset): The names of the secret settings that are set; their values are never
            returned.
    """

    enabled: bool | Unset = UNSET
    mode: PluginMode | Unset = UNSET
    image: str | Unset = UNSET
    settings: PluginConfigSettings | Unset = UNSET
    secret_names: list[str] | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        enabled = self.enabled

        mode: str | Unset = UNSET
        if not isinstance(self.mode, Unset):
            mode = self.mode.value

        image = self.image

        settings: dict[str, Any] | Unset = UNSET
        if not isinstance(self.settings, Unset):
            settings = self.settings.to_dict()

        secret_names: list[str] | Unset = UNSET
        if not isinstance(self.secret_names, Unset):
            secret_names = self.secret_names

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if enabled is not UNSET:
            field_dict["enabled"] = enabled
        if mode is not UNSET:
            field_dict["mode"] = mode
        if image is not UNSET:
            field_dict["image"] = image
        if settings is not UNSET:
            field_dict["settings"] = settings
        if secret_names is not UNSET:
            field_dict["secret_names"] = secret_names

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.plugin_config_settings import PluginConfigSettings  # noqa: PLC0415

        d = dict(src_dict)
        enabled = d.pop("enabled", UNSET)

        _mode = d.pop("mode", UNSET)
        mode: PluginMode | Unset
        if isinstance(_mode, Unset):
            mode = UNSET
        else:
            mode = PluginMode(_mode)

        image = d.pop("image", UNSET)

        _settings = d.pop("settings", UNSET)
        settings: PluginConfigSettings | Unset
        if isinstance(_settings, Unset):
            settings = UNSET
        else:
            settings = PluginConfigSettings.from_dict(_settings)

        secret_names = cast(list[str], d.pop("secret_names", UNSET))

        plugin_config = cls(
            enabled=enabled,
            mode=mode,
            image=image,
            settings=settings,
            secret_names=secret_names,
        )

        return plugin_config
