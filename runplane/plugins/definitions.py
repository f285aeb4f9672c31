"""The tracking plugins runplane knows, their settings, and the rules that keep their secrets write-only.

A plugin's configuration is ``enabled``, ``mode`` (``sidecar``: runplane runs the plugin's server;
``remote``: it is somewhere else; ``disabled``) and ``settings``. Every setting is declared here with its
type, whether it is secret, and whether a task may set it in its own ``plugin_configs``. Secret settings
(passwords, API keys, tokens) are stored server-side and leave the server only as secret environment
variables of the tasks that use them: never in an answer, a log line, an event or an audit row.
docs/plugins.md describes each plugin.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from runplane.errors import Unprocessable
from runplane.redaction import MIN_SECRET_CHARS

MLFLOW: Final = "mlflow"
TENSORBOARD: Final = "tensorboard"
WANDB: Final = "wandb"
PLUGIN_NAMES: Final = (MLFLOW, TENSORBOARD, WANDB)

# Names that always count as secret, even for a setting runplane does not declare (defence in depth for
# masking; undeclared settings are refused anyway).
_SECRET_NAME = re.compile(r"(api[_-]?key|password|passwd|token|secret|credential|private[_-]?key)", re.I)
MAX_TEXT: Final = 2048


@dataclass(frozen=True)
class Setting:
    """One setting: its JSON type (``str``, ``int``), whether it is secret, and whether tasks may set it."""

    kind: type
    secret: bool = False
    per_task: bool = True
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class PluginSpec:
    """A plugin: its settings, the modes it supports and its default configuration (disabled)."""

    name: str
    description: str
    modes: tuple[str, ...]
    default_mode: str
    settings: Mapping[str, Setting] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def secret_names(self) -> frozenset[str]:
        return frozenset(name for name, setting in self.settings.items() if setting.secret)


_PORT = Setting(int, per_task=False, minimum=1, maximum=65535)
_HOST = Setting(str, per_task=False)
_PUBLIC_URL = Setting(str, per_task=False)

SPECS: Final[Mapping[str, PluginSpec]] = {
    MLFLOW: PluginSpec(
        name=MLFLOW,
        description="MLflow tracking (runs, parameters, metrics).",
        modes=("sidecar", "remote", "disabled"),
        default_mode="sidecar",
        settings={
            # Where the server sends its own credentials: the server's, never a task's to redirect.
            "tracking_uri": Setting(str, per_task=False),
            "experiment_name": Setting(str),
            "username": Setting(str, per_task=False),
            "password": Setting(str, secret=True),
            "token": Setting(str, secret=True),
            "host": _HOST,
            "port": _PORT,
            "public_url": _PUBLIC_URL,
        },
        defaults={"experiment_name": "runplane", "host": "127.0.0.1", "port": 5000},
    ),
    TENSORBOARD: PluginSpec(
        name=TENSORBOARD,
        description="TensorBoard: event files in the task's output, served by a TensorBoard sidecar.",
        modes=("sidecar", "remote", "disabled"),
        default_mode="sidecar",
        settings={
            "url": Setting(str, per_task=False),
            "host": _HOST,
            "port": _PORT,
            "public_url": _PUBLIC_URL,
            "reload_interval": Setting(int, per_task=False, minimum=1, maximum=3600),
        },
        defaults={"host": "127.0.0.1", "port": 6006, "reload_interval": 5},
    ),
    WANDB: PluginSpec(
        name=WANDB,
        description="Weights & Biases run tracking (offline runs become artifacts).",
        modes=("remote", "disabled"),
        default_mode="remote",
        settings={
            "project": Setting(str),
            "entity": Setting(str),
            "wandb_mode": Setting(str, choices=("offline", "online", "disabled")),
            "base_url": Setting(str, per_task=False),
            "api_key": Setting(str, secret=True),
        },
        defaults={"wandb_mode": "offline"},
    ),
}


def is_secret(plugin: str, name: str) -> bool:
    """Whether setting `name` of `plugin` is secret (declared so, or named like a secret)."""
    spec = SPECS.get(plugin)
    declared = spec is not None and name in spec.settings and spec.settings[name].secret
    return declared or bool(_SECRET_NAME.search(name))


def split_secrets(plugin: str, settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(plain, secret)``: the settings divided by :func:`is_secret`."""
    plain = {k: v for k, v in settings.items() if not is_secret(plugin, k)}
    secret = {k: v for k, v in settings.items() if is_secret(plugin, k)}
    return plain, secret


def public_config(plugin: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """A stored or submitted config as answers show it: secret settings dropped, their names listed."""
    settings = config.get("settings") or {}
    plain, secret = split_secrets(plugin, settings)
    shown = {k: v for k, v in config.items() if k not in ("settings", "secret_names")}
    shown["settings"] = plain
    given = {name for name, value in secret.items() if value is not None}
    shown["secret_names"] = sorted(given | set(config.get("secret_names") or ()))
    return shown


def secret_values(configs: Mapping[str, Any]) -> list[str]:
    """Every secret value in a task's `plugin_configs` (to hide them wherever the task's text is shown)."""
    found: list[str] = []
    for plugin, config in configs.items():
        if isinstance(config, Mapping):
            _, secret = split_secrets(plugin, config.get("settings") or {})
            found += [str(value) for value in secret.values() if value]
    return found


def check_config(
    plugin: str, config: Mapping[str, Any], *, per_task: bool, field_name: str = "settings"
) -> None:
    """Refuses (422, naming the field) what runplane would otherwise ignore or misuse.

    Unknown plugins, modes the plugin does not have, an ``image`` (runplane runs no containers), unknown
    settings, settings a task may not set, wrong types and out-of-range values. ``None`` is allowed for a
    secret setting (it removes the stored value on an admin's update).
    """
    spec = SPECS.get(plugin)
    if spec is None:
        raise Unprocessable(
            f"Unknown plugin {plugin!r}; known plugins: {', '.join(PLUGIN_NAMES)}",
            details={"field": "plugin_configs" if per_task else "pluginName", "plugin": plugin},
        )
    mode = config.get("mode")
    if mode is not None and mode not in spec.modes:
        raise Unprocessable(
            f"Plugin {plugin!r} has no mode {mode!r}; its modes: {', '.join(spec.modes)}",
            details={"field": "mode", "plugin": plugin},
        )
    if config.get("secret_names") is not None:
        raise Unprocessable(
            "'secret_names' is read-only: it lists the secret settings that are set",
            details={"field": "secret_names", "plugin": plugin},
        )
    if config.get("image") is not None:
        raise Unprocessable(
            "runplane runs plugins as processes, not containers: 'image' is not supported",
            details={"field": "image", "plugin": plugin},
        )
    for name, value in (config.get("settings") or {}).items():
        setting = spec.settings.get(name)
        where = {"field": f"{field_name}.{name}", "plugin": plugin}
        if setting is None:
            known = ", ".join(sorted(spec.settings))
            raise Unprocessable(
                f"Plugin {plugin!r} has no setting {name!r}; its settings: {known}", details=where
            )
        if per_task and not setting.per_task:
            raise Unprocessable(
                f"Setting {name!r} of plugin {plugin!r} is the server's, not a task's", details=where
            )
        if value is None and setting.secret and not per_task:
            continue
        if setting.kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise Unprocessable(
                    f"Setting {name!r} of plugin {plugin!r} must be an integer", details=where
                )
            low = setting.minimum if setting.minimum is not None else value
            high = setting.maximum if setting.maximum is not None else value
            if not low <= value <= high:
                raise Unprocessable(
                    f"Setting {name!r} of plugin {plugin!r} must be between {low} and {high}", details=where
                )
        elif not isinstance(value, str) or not value or len(value) > MAX_TEXT or "\x00" in value:
            raise Unprocessable(
                f"Setting {name!r} of plugin {plugin!r} must be a non-empty string of at most {MAX_TEXT} characters",
                details=where,
            )
        elif setting.choices and value not in setting.choices:
            raise Unprocessable(
                f"Setting {name!r} of plugin {plugin!r} must be one of {', '.join(setting.choices)}",
                details=where,
            )
        elif name == "host" and not re.fullmatch(r"[A-Za-z0-9.:\-]{1,253}", value):
            raise Unprocessable(
                f"Setting 'host' of plugin {plugin!r} must be a host name or IP address", details=where
            )
        elif (name.endswith("url") or name == "tracking_uri") and not re.match(r"^https?://[^\s/]+", value):
            raise Unprocessable(
                f"Setting {name!r} of plugin {plugin!r} must be an http(s) URL", details=where
            )
        elif (name.endswith("url") or name == "tracking_uri") and "@" in value.split("/", 3)[2]:
            # A URL is shown to every user (answers, a task's plugin_status); credentials go in the
            # write-only settings instead.
            raise Unprocessable(
                f"Setting {name!r} of plugin {plugin!r} must not carry credentials (user:password@); "
                "use the plugin's username/password or token settings",
                details=where,
            )
        elif setting.secret and (not value.strip() or len(value) < MIN_SECRET_CHARS):
            raise Unprocessable(
                f"Secret setting {name!r} of plugin {plugin!r} must not be blank and must be at least "
                f"{MIN_SECRET_CHARS} characters long",
                details=where,
            )


TASK_SECRET_ENV: Final[Mapping[tuple[str, str], str]] = {
    (MLFLOW, "password"): "MLFLOW_TRACKING_PASSWORD",
    (MLFLOW, "token"): "MLFLOW_TRACKING_TOKEN",
    (WANDB, "api_key"): "WANDB_API_KEY",
}
"""The environment variable each secret setting a task may give becomes (the names MLflow and wandb read)."""


def move_task_secrets(configs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A task's `plugin_configs` without their secret values, and those values as the task's secrets.

    A task's own plugin credentials are task secrets like any other: stored in ``tasks.secrets`` under
    the variable the tracking client reads (`TASK_SECRET_ENV`), masked in its logs, erased when the task
    ends and asked for again by a retry (`runplane.lifecycle.erase_secrets`). What stays in
    ``plugin_configs`` holds no secret value.
    """
    kept: dict[str, Any] = {}
    moved: dict[str, str] = {}
    for plugin, config in configs.items():
        settings = dict(config.get("settings") or {})
        names = []
        for name in [name for name in settings if is_secret(plugin, name)]:
            value = settings.pop(name)
            if value is not None:
                moved[TASK_SECRET_ENV.get((plugin, name), f"RUNPLANE_{plugin}_{name}".upper())] = str(value)
                names.append(name)
        kept[plugin] = {**config, "settings": settings} if "settings" in config else dict(config)
        if names:
            kept[plugin]["secret_names"] = sorted(names)  # which were given; their values are not here
    return kept, moved


def check_task_configs(configs: Mapping[str, Any]) -> None:
    """Checks a task's `plugin_configs` (a 422 naming the plugin and field for anything wrong)."""
    for plugin, config in configs.items():
        check_config(plugin, config, per_task=True, field_name=f"plugin_configs.{plugin}.settings")
