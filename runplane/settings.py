"""The server's declarative settings: one class, read from ``RUNPLANE_*`` environment variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from limits import parse as parse_limit
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from runplane import __version__
from runplane.redaction import redact_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUNPLANE_", extra="ignore", frozen=True)

    data_dir: Path = Field(Path("var"), description="Where the SQLite database, artifacts and caches live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default SQLite in data_dir. postgresql:// URLs use psycopg."
    )
    redis_url: str | None = Field(None, description="Shared rate-limit storage for several hosts.")
    admin_key: SecretStr | None = Field(None, description="A key that always works as admin (for scripts).")
    rate_limit: str = Field("600/minute", description="Per-key request budget, `limits` notation.")
    auth_failure_limit: str = Field("30/minute", description="Failed key attempts per client address.")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="Largest JSON request body accepted.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    db_pool_size: int = Field(10, ge=1, le=200)
    aging_rate: float = Field(0.1, ge=0, le=100, description="Priority points a queued task gains a minute.")
    aging_max_boost: float = Field(5.0, ge=0, le=100, description="The most aging can add to a priority.")

    @field_validator("rate_limit", "auth_failure_limit")
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
        if not self.database_url:
            return f"sqlite+aiosqlite:///{self.resolved_data_dir / 'runplane.sqlite3'}"
        url = make_url(self.database_url)
        if url.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
            url = url.set(drivername="postgresql+psycopg")
        elif url.drivername == "sqlite":
            url = url.set(drivername="sqlite+aiosqlite")
        return url.render_as_string(hide_password=False)

    @property
    def database_backend(self) -> Literal["sqlite", "postgresql"]:
        return "postgresql" if self.sqlalchemy_url.startswith("postgresql") else "sqlite"

    def public_view(self) -> dict[str, object]:
        """What GET /v1/config shows: every secret and password removed."""
        return {
            "version": __version__,
            "database_url": redact_url(self.sqlalchemy_url),
            "database_backend": self.database_backend,
            "data_dir": str(self.resolved_data_dir),
            "redis_url": redact_url(self.redis_url) if self.redis_url else None,
            "rate_limit": self.rate_limit,
            "auth_failure_limit": self.auth_failure_limit,
            "max_body_bytes": self.max_body_bytes,
            "admin_key_configured": self.admin_key is not None,
        }
