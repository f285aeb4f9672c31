"""The tracking plugins at work: their configurations, health checks, sidecars, and what a task gets.

Configurations live in the database (runplane.store.plugins); a plugin without a stored one has its
default (disabled, docs/plugins.md). An admin's change is audited (`plugin_configured`, setting names only)
in the same transaction.

What a task gets is decided when a worker claims it (:meth:`PluginManager.prepare`, called by the claim
operation), on the API side rather than in the worker agent: the server holds the plugin's configuration
and secrets, can reach a sidecar it runs itself, and records the outcome (run id, status) on the task
where every answer shows it, while the agent stays plugin-agnostic and only resolves the directories in
``output_env`` inside the task's output directory. MLflow's run is created then (once per task, reused by
its retries), tagged ``runplane.task_id``. A plugin that cannot be set up (MLflow unreachable) does not
stop the task: its status says ``unhealthy`` and why.

After the claim the process that supervises the sidecars tends the task's status (:meth:`tend_tasks`,
after each sidecar reconcile): re-checked every ``status_seconds`` while the task is active, wound up once
it ended (every plugin ``stopped``; the MLflow run ended FINISHED / FAILED / KILLED), off every request
path. Health checks are cached per configuration for ``health_ttl`` seconds (:meth:`health`), so reads and
re-checks share one outbound call. docs/plugins.md describes it for users.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import json
import logging
import shutil
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from runplane import audit, lifecycle
from runplane.errors import Conflict, NotFound, Unprocessable
from runplane.plugins import mlflow_rest
from runplane.plugins.definitions import (
    MLFLOW,
    PLUGIN_NAMES,
    SPECS,
    TENSORBOARD,
    WANDB,
    check_config,
    split_secrets,
)
from runplane.plugins.sidecars import SidecarCommand, SidecarSupervisor, pid_alive, read_state
from runplane.redaction import redact_text
from runplane.security import Principal
from runplane.store.plugins import PluginStore
from runplane.store.tables import PluginRow, TaskRow, utcnow

logger = logging.getLogger("runplane.plugins")

SIDECAR_PROGRAMS = {MLFLOW: "mlflow", TENSORBOARD: "tensorboard"}
# How to get each program: MLflow's server cannot share runplane's environment (mlflow pins an older
# gunicorn), so it lives in its own venv; TensorBoard comes with the `plugins` extra.
INSTALL_HINT = {
    MLFLOW: "run `make install-plugins` and point RUNPLANE_PLUGINS_BIN_DIR at .venv-plugins/bin",
    TENSORBOARD: "pip install 'runplane[plugins]', or point RUNPLANE_PLUGINS_BIN_DIR at its bin directory",
}
# How long a (re)started sidecar that does not answer yet counts as `starting` rather than `unhealthy`.
STARTUP_SECONDS = 180.0
CHECK_TIMEOUT_SECONDS = 5.0
TENSORBOARD_DIR = "tensorboard"
# How long after a task ended its MLflow run is tried to be ended while MLflow is out of reach.
END_RETRY_SECONDS = 600.0
# The MLflow run status a task's end gives its run (runs/update).
MLFLOW_RUN_END = {
    lifecycle.TaskStatus.completed: "FINISHED",
    lifecycle.TaskStatus.failed: "FAILED",
    lifecycle.TaskStatus.cancelled: "KILLED",
}
# Bind addresses that mean "every interface": not where a client connects.
_ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104


@dataclass(frozen=True)
class PluginConfig:
    """A plugin's effective configuration: defaults, then the stored one (secrets in `secrets`)."""

    name: str
    enabled: bool
    mode: str
    settings: dict[str, Any]
    secrets: dict[str, Any]
    stored: bool

    @property
    def sidecar_on(self) -> bool:
        return self.enabled and self.mode == "sidecar"

    def all_settings(self) -> dict[str, Any]:
        return {**self.settings, **self.secrets}


@dataclass
class PluginLaunch:
    """What the plugins add to one task's assignment: plain env, secret env, output-relative dirs."""

    env: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    output_env: dict[str, str] = field(default_factory=dict)


def _serves(program: str, path: Path) -> bool:
    """Whether `path` can run the sidecar: mlflow-skinny installs an `mlflow` command too, but without the
    server's packages (Flask), so an `mlflow` whose environment lacks Flask is not the MLflow server."""
    if program != "mlflow":
        return True
    site_packages = list(path.resolve().parent.parent.glob("lib/python3*/site-packages"))
    return not site_packages or any((found / "flask").is_dir() for found in site_packages)


def find_program(program: str, bin_dir: Path | None = None) -> str | None:
    """The plugin program in `bin_dir` (settings.plugins_bin_dir), else beside this Python, else on PATH."""
    on_path = shutil.which(program)
    for candidate in (
        bin_dir / program if bin_dir is not None else None,
        Path(sys.executable).parent / program,
        Path(on_path) if on_path else None,
    ):
        if candidate is not None and candidate.is_file() and _serves(program, candidate):
            return str(candidate)
    return None


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _status(name: str, status: str, now: datetime, **extra: Any) -> dict[str, Any]:
    found = {"name": name, "status": status, "last_check": now.isoformat()}
    found.update({key: value for key, value in extra.items() if value is not None})
    if "message" in found:
        found["message"] = redact_text(str(found["message"]))[:512]
    return found


class PluginManager:
    """The plugins of one server process: configurations, health (cached `health_ttl` seconds), the
    sidecar supervisor, each claimed task's set-up, and the tending of the tasks' `plugin_status` (re-checked
    every `status_seconds` while a task runs, wound up when it ends) by the supervising process."""

    def __init__(
        self,
        store: PluginStore,
        data_dir: Path,
        *,
        bin_dir: Path | None = None,
        poll_seconds: float = 2.0,
        health_ttl: float = 10.0,
        status_seconds: float = 15.0,
    ) -> None:
        self.store = store
        self.bin_dir = bin_dir
        self.data_dir = data_dir
        self.state_dir = data_dir / "plugins"
        self.health_ttl = health_ttl
        self.status_seconds = status_seconds
        # Health checks by configuration (its digest): (monotonic expiry, status), and the checks under way
        # (so a burst of reads waits on one outbound call).
        self._health_cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._health_inflight: dict[
            str, tuple[asyncio.AbstractEventLoop, asyncio.Future[dict[str, Any]]]
        ] = {}
        self._last_refresh = float("-inf")
        self.supervisor = SidecarSupervisor(
            self.state_dir, self.desired_sidecars, poll_seconds=poll_seconds, also=self.tend_tasks
        )

    # --- configurations -------------------------------------------------------------------------

    @staticmethod
    def _effective(name: str, row: PluginRow | None) -> PluginConfig:
        spec = SPECS[name]
        if row is None:
            return PluginConfig(name, False, spec.default_mode, dict(spec.defaults), {}, stored=False)
        return PluginConfig(
            name,
            row.enabled and row.mode != "disabled",
            row.mode,
            {**spec.defaults, **row.settings},
            dict(row.secrets),
            stored=True,
        )

    async def configs(self) -> dict[str, PluginConfig]:
        rows = await self.store.all()
        return {name: self._effective(name, rows.get(name)) for name in PLUGIN_NAMES}

    async def config(self, name: str) -> PluginConfig:
        if name not in SPECS:
            raise NotFound("Plugin not found", details={"plugin": name})
        return self._effective(name, await self.store.get(name))

    @staticmethod
    def public_config(config: PluginConfig) -> dict[str, Any]:
        """The configuration as answers show it: no secret values, only the names of those set."""
        return {
            "enabled": config.enabled,
            "mode": config.mode,
            "settings": dict(config.settings),
            "secret_names": sorted(config.secrets),
        }

    async def update(self, caller: Principal, name: str, body: Mapping[str, Any]) -> PluginConfig:
        """Replaces the plugin's configuration (secrets: kept unless given, removed when null)."""
        if name not in SPECS:
            raise NotFound("Plugin not found", details={"plugin": name})
        check_config(name, body, per_task=False)
        spec = SPECS[name]
        mode = body.get("mode") or spec.default_mode
        enabled = bool(body.get("enabled", True)) and mode != "disabled"
        plain, given_secrets = split_secrets(name, body.get("settings") or {})
        secrets = await self.store.stored_secrets(name)
        for key, value in given_secrets.items():
            if value is None:
                secrets.pop(key, None)
            else:
                secrets[key] = value
        effective = {**spec.defaults, **plain}
        if enabled and mode == "remote" and name == MLFLOW and not effective.get("tracking_uri"):
            raise Unprocessable(
                "MLflow in remote mode needs settings.tracking_uri",
                details={"field": "settings.tracking_uri"},
            )
        if enabled and mode == "remote" and name == TENSORBOARD and not effective.get("url"):
            raise Unprocessable(
                "TensorBoard in remote mode needs settings.url", details={"field": "settings.url"}
            )
        if enabled and mode == "sidecar" and self.program(name) is None:
            raise Conflict(
                f"Sidecar mode runs `{SIDECAR_PROGRAMS[name]}` on this server, which is not installed here "
                f"({INSTALL_HINT[name]})",
                details={"plugin": name, "field": "mode"},
            )
        entry = audit.AuditEntry(
            event_type=audit.PLUGIN_CONFIGURED,
            action="update",
            resource=f"plugin/{name}",
            metadata={
                "plugin": name,
                "enabled": enabled,
                "mode": mode,
                "settings": sorted(plain),
                "secret_names": sorted(secrets),
            },
        )
        row = await self.store.put(
            name,
            enabled=enabled,
            mode=mode,
            settings=plain,
            secrets=secrets,
            updated_by=caller.user_id,
            entry=entry,
        )
        self.forget_health()
        logger.info(
            "plugin configured",
            extra={"plugin": name, "enabled": enabled, "mode": mode, "by": caller.user_id},
        )
        return self._effective(name, row)

    async def delete(self, caller: Principal, name: str) -> None:
        """Forgets the configuration and its secrets: the plugin is disabled, its sidecar stopped."""
        if name not in SPECS:
            raise NotFound("Plugin not found", details={"plugin": name})
        entry = audit.AuditEntry(
            event_type=audit.PLUGIN_CONFIGURED,
            action="delete",
            resource=f"plugin/{name}",
            metadata={"plugin": name, "enabled": False},
        )
        await self.store.delete(name, entry=entry)
        self.forget_health()
        logger.info("plugin configuration removed", extra={"plugin": name, "by": caller.user_id})

    # --- sidecars ----------------------------------------------------------------------------------

    def program(self, name: str) -> str | None:
        """The path of the plugin's sidecar program on this server, or None when it is not installed."""
        return find_program(SIDECAR_PROGRAMS[name], self.bin_dir) if name in SIDECAR_PROGRAMS else None

    @staticmethod
    def _bind(config: PluginConfig) -> tuple[str, int]:
        return str(config.settings["host"]), int(config.settings["port"])

    def local_url(self, config: PluginConfig) -> str | None:
        """Where the server itself reaches the plugin (a sidecar on this host, or the remote URL)."""
        if config.mode == "sidecar":
            host, port = self._bind(config)
            if host in _ANY_ADDRESS:
                host = "127.0.0.1"
            return f"http://{host}:{port}"
        if config.mode == "remote":
            remote = config.settings.get("tracking_uri") or config.settings.get("url")
            return str(remote).rstrip("/") if remote else None
        return None

    def public_url(self, config: PluginConfig) -> str | None:
        """Where tasks and users reach the plugin (a sidecar's `public_url`, by default its bind address)."""
        if config.mode == "sidecar":
            if config.settings.get("public_url"):
                return str(config.settings["public_url"]).rstrip("/")
            host, port = self._bind(config)
            if host in _ANY_ADDRESS:
                host = socket.gethostname()
            return f"http://{host}:{port}"
        return self.local_url(config)

    def sidecar_command(self, config: PluginConfig) -> SidecarCommand | None:
        if not config.sidecar_on or config.name not in SIDECAR_PROGRAMS:
            return None
        program = self.program(config.name)
        if program is None:
            return None
        host, port = self._bind(config)
        home = self.state_dir / config.name
        if config.name == MLFLOW:
            argv = [
                program, "server", "--host", host, "--port", str(port),
                "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
                "--artifacts-destination", str(home / "artifacts"), "--serve-artifacts",
                "--workers", "1",
            ]  # fmt: skip
        else:
            # Serves every task's artifacts: a task's event files (under its output's tensorboard/)
            # arrive there when it ends, as a run named after the task id.
            argv = [
                program, "--logdir", str(self.data_dir / "artifacts"), "--host", host, "--port", str(port),
                "--reload_interval", str(config.settings["reload_interval"]), "--load_fast", "false",
            ]  # fmt: skip
        return SidecarCommand(config.name, tuple(argv), home)

    async def desired_sidecars(self) -> dict[str, SidecarCommand]:
        wanted: dict[str, SidecarCommand] = {}
        for config in (await self.configs()).values():
            command = self.sidecar_command(config)
            if command is not None:
                wanted[config.name] = command
        return wanted

    # --- health ---------------------------------------------------------------------------------------

    def forget_health(self) -> None:
        """Drops this process's cached health checks (a configuration changed). Other processes key their
        cache by the configuration, so a change there is a miss too."""
        self._health_cache.clear()

    @staticmethod
    def _health_key(config: PluginConfig) -> str:
        shape = [config.name, config.enabled, config.mode, config.all_settings()]
        return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()

    async def health(self, config: PluginConfig) -> dict[str, Any]:
        """The plugin's status (PluginStatus fields, `last_check` = when it was really checked): checked
        now, or the same configuration's check of less than `health_ttl` seconds ago. Concurrent callers
        for one configuration share one check, so a burst of reads makes one outbound call."""
        if self.health_ttl <= 0:
            return await self._check_health(config)
        key = self._health_key(config)
        cached = self._health_cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return dict(cached[1])
        loop = asyncio.get_running_loop()
        inflight = self._health_inflight.get(key)
        if inflight is not None and inflight[0] is loop and not inflight[1].done():
            await asyncio.wait({inflight[1]})
            if not inflight[1].cancelled():
                return dict(inflight[1].result())
            return await self._check_health(config)  # that check was abandoned: check here
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._health_inflight[key] = (loop, future)
        try:
            found = await self._check_health(config)
        except BaseException:
            future.cancel()
            raise
        finally:
            if self._health_inflight.get(key, (None, None))[1] is future:
                del self._health_inflight[key]
        future.set_result(found)
        self._health_cache[key] = (time.monotonic() + self.health_ttl, found)
        return dict(found)

    async def _check_health(self, config: PluginConfig) -> dict[str, Any]:
        """The plugin's status checked now (PluginStatus fields): its endpoint, process or settings."""
        now = utcnow()
        name = config.name
        if not config.enabled:
            return _status(name, "stopped", now, message="disabled")
        if name == WANDB:
            return self._wandb_health(config.all_settings(), now)
        url = self.public_url(config)
        if config.mode == "sidecar" and self.program(name) is None:
            return _status(
                name, "unhealthy", now, url=url,
                message=f"`{SIDECAR_PROGRAMS[name]}` is not installed on this server ({INSTALL_HINT[name]})",
            )  # fmt: skip
        local = self.local_url(config)
        if local is None:  # remote mode without its URL (a task asking for remote the server lacks)
            return _status(name, "unhealthy", now, message="remote mode without a configured URL")
        path = "/health" if name == MLFLOW else "/"
        headers = mlflow_rest.auth_headers(config.all_settings()) if name == MLFLOW else {}
        started = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS) as client:
                answer = await client.get(local + path, headers=headers)
        except httpx.HTTPError as exc:
            problem = f"GET {path} failed: {type(exc).__name__}"
        else:
            if answer.status_code == 200:
                took = round((time.monotonic() - started) * 1000, 1)
                version = await self._version(name, local, headers)
                return _status(
                    name, "healthy", now, url=url, version=version,
                    message=f"GET {path} answered 200 in {took} ms",
                )  # fmt: skip
            problem = f"GET {path} answered {answer.status_code}"
        if config.mode == "sidecar":
            state = read_state(self.state_dir, name)
            if state.get("error"):
                return _status(name, "unhealthy", now, url=url, message=f"cannot start: {state['error']}")
            started_at = state.get("started_at") or 0
            if not state or (pid_alive(state.get("pid")) and time.time() - started_at < STARTUP_SECONDS):
                return _status(name, "starting", now, url=url, message=f"starting ({problem})")
        return _status(name, "unhealthy", now, url=url, message=problem)

    @staticmethod
    async def _version(name: str, local: str, headers: Mapping[str, str]) -> str | None:
        if name != MLFLOW:
            return package_version(name)
        try:  # the MLflow server says its version at /version
            async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS) as client:
                answer = await client.get(local + "/version", headers=dict(headers))
        except httpx.HTTPError:
            return None
        return answer.text.strip()[:64] or None if answer.status_code == 200 else None

    @staticmethod
    def _wandb_health(settings: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        # Nothing is contacted: offline runs need no server, and online ones are checked by wandb itself.
        mode = settings.get("wandb_mode", "offline")
        if not settings.get("project"):
            return _status(WANDB, "unhealthy", now, message="settings.project is not set")
        if mode == "online" and not settings.get("api_key"):
            return _status(WANDB, "unhealthy", now, message="online mode needs settings.api_key")
        key = "api key set" if settings.get("api_key") else "no api key"
        return _status(WANDB, "healthy", now, message=f"{mode} mode; project set; {key}")

    # --- tasks -------------------------------------------------------------------------------------------

    @staticmethod
    def enabled_for(config: PluginConfig, task_config: Mapping[str, Any] | None) -> bool:
        if task_config is None:
            return config.enabled
        return bool(task_config.get("enabled", True)) and task_config.get("mode") != "disabled"

    async def prepare_all(self, rows: Sequence[TaskRow]) -> list[PluginLaunch]:
        """:meth:`prepare` for each task of one claim (the configurations read once)."""
        if not rows:
            return []
        configs = await self.configs()
        return [await self.prepare(row, configs) for row in rows]

    async def prepare(self, row: TaskRow, configs: Mapping[str, PluginConfig] | None = None) -> PluginLaunch:
        """Sets up every plugin enabled for the task just claimed; stores its `plugin_status`.

        Never raises for a plugin's failure: the plugin's status becomes `unhealthy` with the reason.
        Services (Jupyter) are no tracked runs: they get nothing.
        """
        launch = PluginLaunch()
        if row.kind != "task":
            return launch
        status: dict[str, Any] = {}
        previous = row.plugin_status or {}
        configs = configs if configs is not None else await self.configs()
        for name in PLUGIN_NAMES:
            task_config = (row.plugin_configs or {}).get(name)
            server = configs[name]
            if not self.enabled_for(server, task_config):
                continue
            config = self._task_config(server, task_config)
            try:
                if name == MLFLOW:
                    status[name] = await self._mlflow(row, server, config, launch, previous.get(name) or {})
                elif name == TENSORBOARD:
                    status[name] = await self._tensorboard(row, server, config, launch)
                else:
                    status[name] = self._wandb(row, config, launch)
            except Exception as exc:  # one plugin's trouble must not lose the claim
                logger.exception("plugin set-up failed", extra={"plugin": name, "task_id": row.id})
                status[name] = _status(
                    name, "unhealthy", utcnow(), message=f"set-up failed: {type(exc).__name__}"
                )
        if status or previous:
            await self.store.set_task_status(row.id, status)
            row.plugin_status = status
        return launch

    @staticmethod
    def _task_config(server: PluginConfig, task_config: Mapping[str, Any] | None) -> PluginConfig:
        """The plugin as one task uses it: the server's configuration, the task's mode and settings over it."""
        mode = (task_config or {}).get("mode") or server.mode
        task_settings = (task_config or {}).get("settings") or {}
        settings = {**server.all_settings(), **{k: v for k, v in task_settings.items() if v is not None}}
        return PluginConfig(server.name, True, mode, settings, {}, stored=server.stored)

    def _mlflow_endpoint(self, server: PluginConfig, config: PluginConfig) -> tuple[str | None, str | None]:
        """Where the server reaches the task's MLflow, and where the task and users do."""
        if config.mode == "sidecar":
            return self.local_url(server), self.public_url(server)
        remote = str(config.settings.get("tracking_uri") or "").rstrip("/") or None
        return remote, remote

    async def _sidecar_available(self, server: PluginConfig, config: PluginConfig) -> str | None:
        """Why the task cannot use the fleet's sidecar, or None when it can."""
        if config.mode != "sidecar":
            return None
        if not server.sidecar_on:
            return f"this server runs no {config.name} sidecar (an admin configures one)"
        return None

    async def _mlflow(
        self,
        row: TaskRow,
        server: PluginConfig,
        config: PluginConfig,
        launch: PluginLaunch,
        previous: Mapping[str, Any],
    ) -> dict[str, Any]:
        now = utcnow()
        settings = config.settings
        problem = await self._sidecar_available(server, config)
        if problem:
            return _status(MLFLOW, "unhealthy", now, message=problem)
        local, public = self._mlflow_endpoint(server, config)
        if not local or not public:
            return _status(MLFLOW, "unhealthy", now, message="no tracking_uri is configured")
        experiment = settings.get("experiment_name") or "runplane"
        if row.experiment_id and not (row.plugin_configs or {}).get(MLFLOW, {}).get("settings", {}).get(
            "experiment_name"
        ):
            experiment = await self.store.experiment_name(row.experiment_id) or experiment
        launch.env.update({"MLFLOW_TRACKING_URI": public, "MLFLOW_EXPERIMENT_NAME": str(experiment)})
        # The server's own credentials stay on the server (it creates the run with them): a task gets only
        # credentials its owner gave it (plugin_configs secrets, moved into the task's `secrets` at submit
        # as MLFLOW_TRACKING_PASSWORD / MLFLOW_TRACKING_TOKEN, erased when the task ends).
        if settings.get("username") and config.mode == "remote":
            launch.env["MLFLOW_TRACKING_USERNAME"] = str(settings["username"])
        run_id = previous.get("run_id")
        url = previous.get("url") or public
        if not run_id:
            tags = {
                "runplane.task_id": row.id,
                "runplane.user_id": row.user_id,
                "runplane.job_name": lifecycle.shown_text(row, "job_name") or "",
            }
            try:
                experiment_id, run_id = await mlflow_rest.create_run(
                    local,
                    settings,
                    experiment=str(experiment),
                    run_name=_run_name(row),
                    tags=tags,
                )
            except mlflow_rest.MlflowError as exc:
                return _status(MLFLOW, "unhealthy", now, url=public, message=str(exc))
            url = f"{public}/#/experiments/{experiment_id}/runs/{run_id}"
        launch.env["MLFLOW_RUN_ID"] = str(run_id)
        return _status(MLFLOW, "healthy", now, url=url, run_id=run_id, message="run created")

    async def _tensorboard(
        self, row: TaskRow, server: PluginConfig, config: PluginConfig, launch: PluginLaunch
    ) -> dict[str, Any]:
        now = utcnow()
        launch.output_env["TENSORBOARD_LOGDIR"] = TENSORBOARD_DIR
        problem = await self._sidecar_available(server, config)
        if problem:
            return _status(TENSORBOARD, "stopped", now, message=f"event files are artifacts; {problem}")
        checked = await self.health(server if config.mode == "sidecar" else config)
        base = checked.get("url")
        url = f"{base}/#timeseries&regexInput={row.id}" if base else None
        found = _status(TENSORBOARD, checked["status"], now, url=url, message=checked.get("message"))
        found["last_check"] = checked["last_check"]
        return found

    @staticmethod
    def _wandb(row: TaskRow, config: PluginConfig, launch: PluginLaunch) -> dict[str, Any]:
        settings = config.settings
        launch.env.update(
            {
                "WANDB_MODE": str(settings.get("wandb_mode", "offline")),
                "WANDB_RUN_ID": row.id,
                "WANDB_NAME": _run_name(row),
                "WANDB_RESUME": "allow",
            }
        )
        for key, variable in (
            ("project", "WANDB_PROJECT"),
            ("entity", "WANDB_ENTITY"),
            ("base_url", "WANDB_BASE_URL"),
        ):
            if settings.get(key):
                launch.env[variable] = str(settings[key])
        # The server's api_key is never handed to a task (any user's task could read it); a task that logs
        # online brings its own in plugin_configs, moved into its `secrets` as WANDB_API_KEY at submit.
        launch.output_env["WANDB_DIR"] = "."
        # What the task itself has: its own key (or none), whatever the server's config holds.
        own = {**settings, "api_key": (row.secrets or {}).get("WANDB_API_KEY")}
        found = PluginManager._wandb_health(own, utcnow())
        found["run_id"] = row.id
        return found

    # --- a task's plugins while it runs, and when it ends ------------------------------------------------

    async def tend_tasks(self) -> None:
        """One pass of the supervising process (after each sidecar reconcile) over the tasks whose plugins
        are open: an ended task's plugins are wound up at once (:meth:`wind_up`); a running task's status is
        checked again every `status_seconds` (:meth:`refresh`). A requeued task waits for its next claim."""
        ended = await self.store.open_tasks(lifecycle.TERMINAL)
        refresh_due = time.monotonic() - self._last_refresh >= self.status_seconds
        # Active tasks are bounded by the fleet's capacity: past the store's limit (1000 at once) only the
        # first by id are re-checked and the rest keep their last status until a pass pages through them.
        active = await self.store.open_tasks(lifecycle.ACTIVE) if refresh_due else []
        configs = await self.configs() if ended or active else {}
        for row in ended:
            await self.wind_up(row, configs)
        for row in active:
            await self.refresh(row, configs)
        if refresh_due:
            self._last_refresh = time.monotonic()

    async def refresh(self, row: TaskRow, configs: Mapping[str, PluginConfig]) -> dict[str, Any]:
        """Checks the plugins of an active task again and stores their status (unless the task moved on
        meanwhile); returns it. The checks are :meth:`health`'s, so tasks sharing a plugin share a check."""
        current: dict[str, Any] = dict(row.plugin_status or {})
        fresh: dict[str, Any] = {}
        for name, previous in current.items():
            if name not in SPECS:
                fresh[name] = previous
                continue
            config = self._task_config(configs[name], (row.plugin_configs or {}).get(name))
            try:
                if name == MLFLOW:
                    fresh[name] = await self._mlflow_check(configs[name], config, previous)
                elif name == TENSORBOARD:
                    fresh[name] = await self._tensorboard(row, configs[name], config, PluginLaunch())
                else:
                    fresh[name] = self._wandb(row, config, PluginLaunch())
            except Exception:  # one plugin's trouble keeps its last status
                logger.exception("plugin status check failed", extra={"plugin": name, "task_id": row.id})
                fresh[name] = previous
        await self.store.refresh_task_status(row.id, row.retry_count, fresh)
        return fresh

    async def _mlflow_check(
        self, server: PluginConfig, config: PluginConfig, previous: Mapping[str, Any]
    ) -> dict[str, Any]:
        run_id, url = previous.get("run_id"), previous.get("url")
        if not run_id:  # its set-up failed: nothing changes that before a retry sets it up again
            return dict(previous)
        problem = await self._sidecar_available(server, config)
        if problem:
            return _status(MLFLOW, "unhealthy", utcnow(), url=url, run_id=run_id, message=problem)
        checked = await self.health(server if config.mode == "sidecar" else config)
        found = _status(
            MLFLOW, checked["status"], utcnow(), url=url, run_id=run_id, message=checked.get("message")
        )
        found["last_check"] = checked["last_check"]
        return found

    async def wind_up(self, row: TaskRow, configs: Mapping[str, PluginConfig]) -> dict[str, Any] | None:
        """Closes an ended task's plugins: each reads `stopped` (url and run id kept), and its MLflow run is
        ended through MLflow's REST API (FINISHED, FAILED or KILLED as the task ended, at its end time).

        MLflow out of reach (no answer, 5xx) leaves the task open for the next pass, for up to
        `END_RETRY_SECONDS` after the task ended; then, or when MLflow refuses the call, the run is left
        as it is and the status says why. Returns the stored status, or None when it is to be tried again.
        """
        verdict = lifecycle.TaskStatus(row.status)
        ended = row.ended_at or utcnow()
        now = utcnow()
        final: dict[str, Any] = {}
        for name, previous in (row.plugin_status or {}).items():
            message = f"the task {verdict.value}"
            run_id = previous.get("run_id")
            if name == MLFLOW and run_id and name in configs:
                config = self._task_config(configs[name], (row.plugin_configs or {}).get(name))
                local, _ = self._mlflow_endpoint(configs[name], config)
                run_status = MLFLOW_RUN_END[verdict]
                try:
                    if not local:
                        raise mlflow_rest.MlflowError("no tracking_uri is configured")
                    await mlflow_rest.end_run(
                        local,
                        config.settings,
                        str(run_id),
                        status=run_status,
                        end_time_ms=int(ended.timestamp() * 1000),
                    )
                    message += f"; MLflow run {run_status}"
                except mlflow_rest.MlflowUnreachable as exc:
                    if (now - ended).total_seconds() < END_RETRY_SECONDS:
                        logger.debug(
                            "MLflow out of reach; the task's run is ended later",
                            extra={"task_id": row.id, "error": str(exc)},
                        )
                        return None
                    logger.warning(
                        "MLflow run left open: MLflow out of reach",
                        extra={"task_id": row.id, "error": str(exc)},
                    )
                    message += f"; MLflow run not ended ({exc})"
                except mlflow_rest.MlflowError as exc:
                    logger.warning("MLflow run not ended", extra={"task_id": row.id, "error": str(exc)})
                    message += f"; MLflow run not ended ({exc})"
            elif name == TENSORBOARD and previous.get("url"):
                message += "; its event files are shown at url once its artifacts arrived"
            final[name] = _status(
                name, "stopped", now, url=previous.get("url"), run_id=run_id, message=message
            )
        await self.store.close_task_status(row.id, final)
        return final


def _run_name(row: TaskRow) -> str:
    """The name a tracker gives the task's run: its label, else its job name, as its views show them (a
    secret value passed literally there must not reach the tracker's store)."""
    return lifecycle.shown_text(row, "run_label") or lifecycle.shown_text(row, "job_name") or row.id
