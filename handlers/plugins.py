"""Operations of the Plugins tag: the tracking plugins' configuration (admins change it) and health."""

from __future__ import annotations

from typing import Any

from generated import models
from handlers import presenters
from handlers.context import principal, services
from runplane.plugins.definitions import PLUGIN_NAMES, SPECS
from runplane.plugins.manager import PluginConfig, PluginManager

Answer = tuple[Any, int]


def _manager() -> PluginManager:
    found = services().plugins
    assert found is not None, "build_services sets the plugin manager"
    return found


async def _plugin(manager: PluginManager, config: PluginConfig) -> dict[str, Any]:
    status = await manager.health(config)
    version = status.pop("version", None)
    plugin = models.Plugin.model_validate(
        {
            "name": config.name,
            "enabled": config.enabled,
            "mode": config.mode,
            "status": status,
            "config": manager.public_config(config),
            "requires_restart": False,
            "version": version,
            "description": SPECS[config.name].description,
        }
    )
    return presenters.dump(plugin)


async def list_plugins(token_info: dict[str, Any]) -> Answer:
    manager = _manager()
    configs = await manager.configs()
    return [await _plugin(manager, configs[name]) for name in PLUGIN_NAMES], 200


async def get_plugin(plugin_name: str, token_info: dict[str, Any]) -> Answer:
    manager = _manager()
    return await _plugin(manager, await manager.config(plugin_name)), 200


async def get_plugin_config(plugin_name: str, token_info: dict[str, Any]) -> Answer:
    manager = _manager()
    config = models.PluginConfig.model_validate(manager.public_config(await manager.config(plugin_name)))
    return presenters.dump(config), 200


async def update_plugin_config(plugin_name: str, body: dict[str, Any], token_info: dict[str, Any]) -> Answer:
    manager = _manager()
    config = await manager.update(principal(token_info), plugin_name, body)
    return await _plugin(manager, config), 200


async def delete_plugin_config(plugin_name: str, token_info: dict[str, Any]) -> Answer:
    await _manager().delete(principal(token_info), plugin_name)
    return None, 204


async def get_plugin_health(plugin_name: str, token_info: dict[str, Any]) -> Answer:
    manager = _manager()
    status = await manager.health(await manager.config(plugin_name))
    health = models.PluginHealth.model_validate({**status, "timestamp": status["last_check"]})
    return presenters.dump(health), 200
