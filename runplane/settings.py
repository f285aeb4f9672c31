"""The server's declarative settings: one class, read from ``RUNPLANE_*`` environment variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from limits import parse as parse_limit
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from runplane import __version__
from runplane.redaction import redact_url
from runplane.store.urls import async_url

# The usual ports of local front-end dev servers (Create React App / Next.js, Vite, webpack / Vue CLI),
# as localhost and as 127.0.0.1 (browsers treat them as different origins).
DEFAULT_CORS_ORIGINS: tuple[str, ...] = tuple(
    f"http://{host}:{port}" for port in (3000, 5173, 8080) for host in ("localhost", "127.0.0.1")
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUNPLANE_", extra="ignore", frozen=True)

    data_dir: Path = Field(Path("var"), description="Where the SQLite database, artifacts and caches live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default SQLite in data_dir. postgresql:// URLs use psycopg."
    )
    redis_url: str | None = Field(None, description="Shared rate-limit storage for several hosts.")
    admin_key: SecretStr | None = Field(None, description="A key that always works as admin (for scripts).")
    rate_limit: str = Field("600/minute", description="Per-key request budget, `limits` notation.")
    worker_rate_limit: str = Field("6000/minute", description="Per-key budget of worker keys (they poll).")
    key_cache_seconds: float = Field(
        10.0,
        ge=0,
        description="How long a server process reuses a resolved API key (0: look it up on every request). "
        "A revocation through the API or `runplane keys revoke` reaches every process at once regardless.",
    )
    auth_failure_limit: str = Field("30/minute", description="Failed key attempts per client address.")
    forwarded_allow_ips: str = Field(
        "",
        description="Comma-separated proxy addresses (or `*`) whose X-Forwarded-For/-Proto headers are "
        "trusted as the client's address (audit `ip_address`, the failed-auth limit). Default: none, "
        "so no client, local tasks included, can forge its address.",
    )
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="Largest JSON request body accepted.")
    metrics_require_key: bool = Field(
        False,
        description="Whether Prometheus `/metrics` needs an API key (default: open, like health probes).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = Field(
        "json",
        description="`json`: one object a line, access lines included; `console`: short lines for a "
        "person, access lines only at DEBUG (what `runplane up` uses).",
    )
    log_file: Path | None = Field(None, description="Also append JSON log lines (access lines too) here.")
    db_pool_size: int = Field(10, ge=1, le=200)
    reservation_max_minutes: int = Field(
        240,
        ge=1,
        le=43200,
        description="The longest reservation a user (not an admin) may make, in minutes.",
    )
    reservation_max_nodes: int = Field(
        2,
        ge=1,
        le=10000,
        description="The most workers (summed node_count) one user (not an admin) may hold in reservations "
        "whose windows overlap.",
    )
    aging_rate: float = Field(0.1, ge=0, le=100, description="Priority points a queued task gains a minute.")
    aging_max_boost: float = Field(5.0, ge=0, le=100, description="The most aging can add to a priority.")
    lease_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="A worker is lost this long after its last request (any worker request renews it).",
    )
    heartbeat_seconds: float = Field(5.0, gt=0, le=600, description="How often workers renew their lease.")
    claim_recheck_seconds: float = Field(
        1.0,
        gt=0,
        le=600,
        description="How often a waiting long-poll claim looks for work when no queued task woke it.",
    )
    claim_max_wait_seconds: float = Field(
        30.0,
        ge=0,
        le=30,
        description="The longest a claim's `wait_seconds` may hold a request (shorter asks are kept).",
    )
    reaper_seconds: float = Field(
        1.0, ge=0, le=60, description="How often each API process recovers lost workers' tasks (0: never)."
    )
    snapshot_max_unpacked_bytes: int = Field(
        10 * 1024**3,
        ge=1,
        le=1024**5,
        description="Largest total a code snapshot may unpack to (the sum of its files' sizes in the tar "
        "headers); more is 422 on upload, and a worker (reading the same variable) refuses to extract it.",
    )
    snapshot_max_members: int = Field(
        100_000,
        ge=1,
        description="Most entries (files, folders, links) a code snapshot may hold (422 past it).",
    )
    wal_checkpoint_seconds: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="SQLite: how often each API process checkpoints and truncates the write-ahead log, so "
        "erased secret values leave the `-wal` file within this many seconds (0: never).",
    )
    max_upload_bytes: int = Field(
        10 * 1024**3, ge=1024, description="Largest snapshot or artifact upload accepted."
    )
    body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="How long a JSON request body may take to arrive, and the longest pause in an upload (408).",
    )
    # Live events (runplane.live): the event log's retention, the readers' pace and the limits per client.
    event_retention_hours: float = Field(
        72.0, ge=0, le=24 * 366, description="Events older than this are pruned (0: kept forever)."
    )
    event_poll_seconds: float = Field(
        0.2,
        gt=0,
        le=10,
        description="How often each process reads new events (PostgreSQL NOTIFY wakes it sooner).",
    )
    sse_keepalive_seconds: float = Field(
        15.0, gt=0, le=3600, description="Idle SSE streams get a `: keep-alive` comment this often."
    )
    stream_max_seconds: float = Field(
        900.0,
        gt=0,
        le=86400,
        description="Long-lived answers (SSE, a followed log) end after this long; clients resume.",
    )
    ws_max_connections: int = Field(
        1000, ge=1, le=1_000_000, description="Open WebSockets per server process."
    )
    ws_queue_size: int = Field(
        256,
        ge=1,
        le=100_000,
        description="Messages queued per live client (WebSocket or SSE) before it is dropped.",
    )
    ws_auth_timeout_seconds: float = Field(
        5.0,
        gt=0,
        le=300,
        description="How long /ws waits for a first `auth` message without an X-API-Key header.",
    )
    plugins_bin_dir: Path | None = Field(
        None,
        description="Where the plugins' sidecar programs (`mlflow`, `tensorboard`) are looked for first "
        "(e.g. .venv-plugins/bin, `make install-plugins`); then beside this Python, then PATH.",
    )
    plugin_poll_seconds: float = Field(
        2.0, gt=0, le=3600, description="How often the sidecar supervisor reconciles plugin sidecars."
    )
    plugin_health_ttl_seconds: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="How long a plugin's health check is reused by reads (plugin operations, task status "
        "refreshes) before the plugin is asked again; 0 asks every time. A config change forgets it.",
    )
    plugin_status_seconds: float = Field(
        15.0,
        gt=0,
        le=3600,
        description="How often a running task's `plugin_status` is checked again (by the process that "
        "supervises the sidecars); an ended task's plugins are wound up on the next supervisor poll.",
    )

    cors_origins: Annotated[list[str], NoDecode] = Field(
        list(DEFAULT_CORS_ORIGINS),
        description="Browser origins (scheme://host[:port]) whose pages may call the API (CORS); "
        "comma-separated in RUNPLANE_CORS_ORIGINS, empty for none, `*` for any.",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _valid_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if origin == "*":
                continue
            parts = urlsplit(origin)
            extra = parts.path not in ("", "/") or parts.query or parts.fragment
            if parts.scheme not in ("http", "https") or not parts.hostname or extra:
                raise ValueError(f"{origin!r} is not an origin: scheme://host[:port], no path")
        return [origin.rstrip("/") for origin in origins]

    @field_validator("rate_limit", "worker_rate_limit", "auth_failure_limit")
    @classmethod
    def _valid_limit(cls, value: str) -> str:
        parse_limit(value)  # raises ValueError with a clear message on bad notation
        return value

    @cached_property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @cached_property
    def sqlalchemy_url(self) -> str:
        """The async driver URL: plain postgresql:// and sqlite:// URLs are accepted too."""
        return async_url(self.database_url, self.resolved_data_dir / "runplane.sqlite3")

    @property
    def database_backend(self) -> Literal["sqlite", "postgresql"]:
        return "postgresql" if self.sqlalchemy_url.startswith("postgresql") else "sqlite"

    def public_view(self) -> dict[str, object]:
        """What GET /v1/config shows: every setting, with secrets removed and URLs' passwords redacted."""
        view: dict[str, object] = self.model_dump(mode="json", exclude={"admin_key", "data_dir"})
        view.update(
            version=__version__,
            database_url=redact_url(self.sqlalchemy_url),
            database_backend=self.database_backend,
            data_dir=str(self.resolved_data_dir),
            redis_url=redact_url(self.redis_url) if self.redis_url else None,
            admin_key_configured=self.admin_key is not None,
        )
        return view
