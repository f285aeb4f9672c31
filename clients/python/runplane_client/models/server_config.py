from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.server_config_database_backend import ServerConfigDatabaseBackend
from ..models.server_config_log_format import ServerConfigLogFormat
from ..models.server_config_log_level import ServerConfigLogLevel
from ..types import UNSET, Unset

T = TypeVar("T", bound="ServerConfig")


@_attrs_define
class ServerConfig:
    """The server's settings, with passwords, keys and secrets removed.

    Attributes:
        version (str):
        database_url (str): The database URL with any password replaced by `<redacted>`.
        database_backend (ServerConfigDatabaseBackend):
        data_dir (str):
        rate_limit (str): Per-key request budget in `limits` notation, e.g. `600/minute`.
        auth_failure_limit (str): Failed key attempts allowed per client address.
        max_body_bytes (int):
        admin_key_configured (bool): Whether `RUNPLANE_ADMIN_KEY` is set (its value is never shown).
        log_level (ServerConfigLogLevel): Log level; the console format shows every request only at DEBUG.
        log_format (ServerConfigLogFormat): `json`: one object a line, every request included; `console`: short lines
            for a person.
        cors_origins (list[str]): Browser origins whose pages may call the API (CORS); `*` is any.
        db_pool_size (int): Database connections per server process (PostgreSQL).
        worker_rate_limit (str): Per-key request budget of worker keys.
        key_cache_seconds (float): How long a server process reuses a resolved API key (0: no cache). A revocation
            reaches every process at once.
        max_upload_bytes (int): Largest snapshot or artifact upload.
        snapshot_max_unpacked_bytes (int): Largest total a code snapshot may unpack to (the sum of its files' sizes in
            the tar headers).
        snapshot_max_members (int): Most entries a code snapshot may hold.
        wal_checkpoint_seconds (float): SQLite: how often each server process checkpoints and truncates the write-ahead
            log, so erased
            secret values leave it within this long (0 means never).
        body_timeout_seconds (float): How long a JSON request body may take to arrive, and the longest pause within an
            upload;
            past it the request ends with 408.
        metrics_require_key (bool): Whether `/metrics` needs an API key.
        aging_rate (float): Priority points a queued task gains per minute of waiting.
        aging_max_boost (float): The most aging can add to a priority.
        reservation_max_minutes (int): The longest reservation a user (not an admin) may make, in minutes.
        reservation_max_nodes (int): The most workers one user (not an admin) holds in reservations overlapping in time.
        lease_seconds (float): A worker is lost this long after its last request (any request of a worker renews its
            lease), once
            the reaper sees it.
        heartbeat_seconds (float): How often workers renew their lease.
        reaper_seconds (float): How often each server process recovers lost workers' tasks (0 means never).
        event_retention_hours (float): Events older than this are pruned (0 keeps them).
        event_poll_seconds (float): How often each process reads new events.
        sse_keepalive_seconds (float): Idle SSE streams get a keep-alive comment this often.
        stream_max_seconds (float): SSE streams and followed logs end after this long.
        ws_max_connections (int): Open WebSockets per server process.
        ws_queue_size (int): Messages queued per live client before it is dropped.
        ws_auth_timeout_seconds (float): How long /ws waits for a first auth message.
        redis_url (str | Unset): The Redis URL with any password replaced by `<redacted>`.
        forwarded_allow_ips (str | Unset): Addresses or networks (comma-separated, `*` for any) of the reverse proxies
            whose X-Forwarded-For / X-Forwarded-Proto headers are trusted; empty (the default) trusts none.
        log_file (str | Unset): Where JSON log lines are also appended; absent when not set.
        claim_recheck_seconds (float | Unset): How often a waiting (long-poll) claim looks at the queue again without a
            wake-up hint.
        claim_max_wait_seconds (float | Unset): The longest the server holds a long-poll claim, whatever the claim asks
            for.
        plugins_bin_dir (str | Unset): Where the plugins' sidecar programs (`mlflow`, `tensorboard`) are looked for
            first.
        plugin_poll_seconds (float | Unset): How often the sidecar supervisor compares the running sidecars with their
            configuration.
        plugin_health_ttl_seconds (float | Unset): How long a plugin's health check is reused by reads before the plugin
            is asked again (0 - every time); a configuration change forgets it.
        plugin_status_seconds (float | Unset): How often a running task's `plugin_status` is checked again; an ended
            task's plugins are wound up (status `stopped`, MLflow run ended) on the next supervisor poll.
    """

    version: str
    database_url: str
    database_backend: ServerConfigDatabaseBackend
    data_dir: str
    rate_limit: str
    auth_failure_limit: str
    max_body_bytes: int
    admin_key_configured: bool
    log_level: ServerConfigLogLevel
    log_format: ServerConfigLogFormat
    cors_origins: list[str]
    db_pool_size: int
    worker_rate_limit: str
    key_cache_seconds: float
    max_upload_bytes: int
    snapshot_max_unpacked_bytes: int
    snapshot_max_members: int
    wal_checkpoint_seconds: float
    body_timeout_seconds: float
    metrics_require_key: bool
    aging_rate: float
    aging_max_boost: float
    reservation_max_minutes: int
    reservation_max_nodes: int
    lease_seconds: float
    heartbeat_seconds: float
    reaper_seconds: float
    event_retention_hours: float
    event_poll_seconds: float
    sse_keepalive_seconds: float
    stream_max_seconds: float
    ws_max_connections: int
    ws_queue_size: int
    ws_auth_timeout_seconds: float
    redis_url: str | Unset = UNSET
    forwarded_allow_ips: str | Unset = UNSET
    log_file: str | Unset = UNSET
    claim_recheck_seconds: float | Unset = UNSET
    claim_max_wait_seconds: float | Unset = UNSET
    plugins_bin_dir: str | Unset = UNSET
    plugin_poll_seconds: float | Unset = UNSET
    plugin_health_ttl_seconds: float | Unset = UNSET
    plugin_status_seconds: float | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        version = self.version

        database_url = self.database_url

        database_backend = self.database_backend.value

        data_dir = self.data_dir

        rate_limit = self.rate_limit

        auth_failure_limit = self.auth_failure_limit

        max_body_bytes = self.max_body_bytes

        admin_key_configured = self.admin_key_configured

        log_level = self.log_level.value

        log_format = self.log_format.value

        cors_origins = self.cors_origins

        db_pool_size = self.db_pool_size

        worker_rate_limit = self.worker_rate_limit

        key_cache_seconds = self.key_cache_seconds

        max_upload_bytes = self.max_upload_bytes

        snapshot_max_unpacked_bytes = self.snapshot_max_unpacked_bytes

        snapshot_max_members = self.snapshot_max_members

        wal_checkpoint_seconds = self.wal_checkpoint_seconds

        body_timeout_seconds = self.body_timeout_seconds

        metrics_require_key = self.metrics_require_key

        aging_rate = self.aging_rate

        aging_max_boost = self.aging_max_boost

        reservation_max_minutes = self.reservation_max_minutes

        reservation_max_nodes = self.reservation_max_nodes

        lease_seconds = self.lease_seconds

        heartbeat_seconds = self.heartbeat_seconds

        reaper_seconds = self.reaper_seconds

        event_retention_hours = self.event_retention_hours

        event_poll_seconds = self.event_poll_seconds

        sse_keepalive_seconds = self.sse_keepalive_seconds

        stream_max_seconds = self.stream_max_seconds

        ws_max_connections = self.ws_max_connections

        ws_queue_size = self.ws_queue_size

        ws_auth_timeout_seconds = self.ws_auth_timeout_seconds

        redis_url = self.redis_url

        forwarded_allow_ips = self.forwarded_allow_ips

        log_file = self.log_file

        claim_recheck_seconds = self.claim_recheck_seconds

        claim_max_wait_seconds = self.claim_max_wait_seconds

        plugins_bin_dir = self.plugins_bin_dir

        plugin_poll_seconds = self.plugin_poll_seconds

        plugin_health_ttl_seconds = self.plugin_health_ttl_seconds

        plugin_status_seconds = self.plugin_status_seconds

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "version": version,
                "database_url": database_url,
                "database_backend": database_backend,
                "data_dir": data_dir,
                "rate_limit": rate_limit,
                "auth_failure_limit": auth_failure_limit,
                "max_body_bytes": max_body_bytes,
                "admin_key_configured": admin_key_configured,
                "log_level": log_level,
                "log_format": log_format,
                "cors_origins": cors_origins,
                "db_pool_size": db_pool_size,
                "worker_rate_limit": worker_rate_limit,
                "key_cache_seconds": key_cache_seconds,
                "max_upload_bytes": max_upload_bytes,
                "snapshot_max_unpacked_bytes": snapshot_max_unpacked_bytes,
                "snapshot_max_members": snapshot_max_members,
                "wal_checkpoint_seconds": wal_checkpoint_seconds,
                "body_timeout_seconds": body_timeout_seconds,
                "metrics_require_key": metrics_require_key,
                "aging_rate": aging_rate,
                "aging_max_boost": aging_max_boost,
                "reservation_max_minutes": reservation_max_minutes,
                "reservation_max_nodes": reservation_max_nodes,
                "lease_seconds": lease_seconds,
                "heartbeat_seconds": heartbeat_seconds,
                "reaper_seconds": reaper_seconds,
                "event_retention_hours": event_retention_hours,
                "event_poll_seconds": event_poll_seconds,
                "sse_keepalive_seconds": sse_keepalive_seconds,
                "stream_max_seconds": stream_max_seconds,
                "ws_max_connections": ws_max_connections,
                "ws_queue_size": ws_queue_size,
                "ws_auth_timeout_seconds": ws_auth_timeout_seconds,
            }
        )
        if redis_url is not UNSET:
            field_dict["redis_url"] = redis_url
        if forwarded_allow_ips is not UNSET:
            field_dict["forwarded_allow_ips"] = forwarded_allow_ips
        if log_file is not UNSET:
            field_dict["log_file"] = log_file
        if claim_recheck_seconds is not UNSET:
            field_dict["claim_recheck_seconds"] = claim_recheck_seconds
        if claim_max_wait_seconds is not UNSET:
            field_dict["claim_max_wait_seconds"] = claim_max_wait_seconds
        if plugins_bin_dir is not UNSET:
            field_dict["plugins_bin_dir"] = plugins_bin_dir
        if plugin_poll_seconds is not UNSET:
            field_dict["plugin_poll_seconds"] = plugin_poll_seconds
        if plugin_health_ttl_seconds is not UNSET:
            field_dict["plugin_health_ttl_seconds"] = plugin_health_ttl_seconds
        if plugin_status_seconds is not UNSET:
            field_dict["plugin_status_seconds"] = plugin_status_seconds

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        version = d.pop("version")

        database_url = d.pop("database_url")

        database_backend = ServerConfigDatabaseBackend(d.pop("database_backend"))

        data_dir = d.pop("data_dir")

        rate_limit = d.pop("rate_limit")

        auth_failure_limit = d.pop("auth_failure_limit")

        max_body_bytes = d.pop("max_body_bytes")

        admin_key_configured = d.pop("admin_key_configured")

        log_level = ServerConfigLogLevel(d.pop("log_level"))

        log_format = ServerConfigLogFormat(d.pop("log_format"))

        cors_origins = cast(list[str], d.pop("cors_origins"))

        db_pool_size = d.pop("db_pool_size")

        worker_rate_limit = d.pop("worker_rate_limit")

        key_cache_seconds = d.pop("key_cache_seconds")

        max_upload_bytes = d.pop("max_upload_bytes")

        snapshot_max_unpacked_bytes = d.pop("snapshot_max_unpacked_bytes")

        snapshot_max_members = d.pop("snapshot_max_members")

        wal_checkpoint_seconds = d.pop("wal_checkpoint_seconds")

        body_timeout_seconds = d.pop("body_timeout_seconds")

        metrics_require_key = d.pop("metrics_require_key")

        aging_rate = d.pop("aging_rate")

        aging_max_boost = d.pop("aging_max_boost")

        reservation_max_minutes = d.pop("reservation_max_minutes")

        reservation_max_nodes = d.pop("reservation_max_nodes")

        lease_seconds = d.pop("lease_seconds")

        heartbeat_seconds = d.pop("heartbeat_seconds")

        reaper_seconds = d.pop("reaper_seconds")

        event_retention_hours = d.pop("event_retention_hours")

        event_poll_seconds = d.pop("event_poll_seconds")

        sse_keepalive_seconds = d.pop("sse_keepalive_seconds")

        stream_max_seconds = d.pop("stream_max_seconds")

        ws_max_connections = d.pop("ws_max_connections")

        ws_queue_size = d.pop("ws_queue_size")

        ws_auth_timeout_seconds = d.pop("ws_auth_timeout_seconds")

        redis_url = d.pop("redis_url", UNSET)

        forwarded_allow_ips = d.pop("forwarded_allow_ips", UNSET)

        log_file = d.pop("log_file", UNSET)

        claim_recheck_seconds = d.pop("claim_recheck_seconds", UNSET)

        claim_max_wait_seconds = d.pop("claim_max_wait_seconds", UNSET)

        plugins_bin_dir = d.pop("plugins_bin_dir", UNSET)

        plugin_poll_seconds = d.pop("plugin_poll_seconds", UNSET)

        plugin_health_ttl_seconds = d.pop("plugin_health_ttl_seconds", UNSET)

        plugin_status_seconds = d.pop("plugin_status_seconds", UNSET)

        server_config = cls(
            version=version,
            database_url=database_url,
            database_backend=database_backend,
            data_dir=data_dir,
            rate_limit=rate_limit,
            auth_failure_limit=auth_failure_limit,
            max_body_bytes=max_body_bytes,
            admin_key_configured=admin_key_configured,
            log_level=log_level,
            log_format=log_format,
            cors_origins=cors_origins,
            db_pool_size=db_pool_size,
            worker_rate_limit=worker_rate_limit,
            key_cache_seconds=key_cache_seconds,
            max_upload_bytes=max_upload_bytes,
            snapshot_max_unpacked_bytes=snapshot_max_unpacked_bytes,
            snapshot_max_members=snapshot_max_members,
            wal_checkpoint_seconds=wal_checkpoint_seconds,
            body_timeout_seconds=body_timeout_seconds,
            metrics_require_key=metrics_require_key,
            aging_rate=aging_rate,
            aging_max_boost=aging_max_boost,
            reservation_max_minutes=reservation_max_minutes,
            reservation_max_nodes=reservation_max_nodes,
            lease_seconds=lease_seconds,
            heartbeat_seconds=heartbeat_seconds,
            reaper_seconds=reaper_seconds,
            event_retention_hours=event_retention_hours,
            event_poll_seconds=event_poll_seconds,
            sse_keepalive_seconds=sse_keepalive_seconds,
            stream_max_seconds=stream_max_seconds,
            ws_max_connections=ws_max_connections,
            ws_queue_size=ws_queue_size,
            ws_auth_timeout_seconds=ws_auth_timeout_seconds,
            redis_url=redis_url,
            forwarded_allow_ips=forwarded_allow_ips,
            log_file=log_file,
            claim_recheck_seconds=claim_recheck_seconds,
            claim_max_wait_seconds=claim_max_wait_seconds,
            plugins_bin_dir=plugins_bin_dir,
            plugin_poll_seconds=plugin_poll_seconds,
            plugin_health_ttl_seconds=plugin_health_ttl_seconds,
            plugin_status_seconds=plugin_status_seconds,
        )

        return server_config
