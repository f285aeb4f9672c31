"""Database URLs: the async driver URL SQLAlchemy is given for what an operator configured."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url


def async_url(database_url: str | None, sqlite_file: Path) -> str:
    """The async driver URL: plain postgresql:// and sqlite:// URLs are accepted too; with no
    `database_url`, the SQLite database `sqlite_file`."""
    if not database_url:
        return f"sqlite+aiosqlite:///{sqlite_file}"
    url = make_url(database_url)
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+psycopg")
    elif url.drivername == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    return url.render_as_string(hide_password=False)
