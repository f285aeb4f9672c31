"""`runplane keys … --local`: keys in this machine's database (the settings' database URL), no API needed.

For a lost admin key or a worker key on the server's machine; everything else goes over the API. The
database must exist already (the server, `runplane up` or `runplane migrate` creates it).
"""

from __future__ import annotations

import os
from typing import Any

from handlers import presenters
from handlers.presenters import dump
from runplane.keys import create_key, revoke_key
from runplane.ratelimit import RateLimiter, SharedCounter, storage_uri_for
from runplane.redaction import redact_url
from runplane.settings import Settings
from runplane.store.database import Database, DatabaseUnreachable, migrate, schema_revision, sqlite_file
from runplane.store.keys import KeyStore

_HOW_TO_POINT = (
    "run it in the server's directory, or point at the server's database with --database-url URL, "
    "RUNPLANE_DATABASE_URL or RUNPLANE_DATA_DIR (`runplane migrate` creates a new one)"
)


class NoLocalDatabase(Exception):
    """`--local` found no runplane database where it looked; the message says where and what to do."""


def _settings(database_url: str | None) -> Settings:
    """The settings, with ``database_url`` (from `--database-url`) in place of the configured one. A SQLite
    file named there also names the data dir (the server keeps its rate-limit storage beside it), unless
    RUNPLANE_DATA_DIR says otherwise."""
    if not database_url:
        return Settings()
    settings = Settings(database_url=database_url)
    if settings.database_backend == "sqlite" and "RUNPLANE_DATA_DIR" not in os.environ:
        database = sqlite_file(settings.sqlalchemy_url)
        if database is not None:
            settings = Settings(database_url=database_url, data_dir=database.parent)
    return settings


def _database(database_url: str | None = None) -> Database:
    """The server's database (``database_url``, else the settings'), brought to the newest schema.

    Never creates one: a key written into a new, empty database is a key the server never sees. Raises
    :class:`NoLocalDatabase` when the database does not exist, has no runplane schema or cannot be reached.
    """
    url = _settings(database_url).sqlalchemy_url
    try:
        revision = schema_revision(url)
    except DatabaseUnreachable as exc:
        raise NoLocalDatabase(
            f"cannot open the database {redact_url(url)} ({exc}); {_HOW_TO_POINT}"
        ) from None
    if revision is None:
        raise NoLocalDatabase(f"no runplane database at {redact_url(url)}; {_HOW_TO_POINT}")
    # An older schema (the server not restarted since an upgrade) is brought up to date, as the server would.
    migrate(url)
    return Database(url)


async def create_local_key(name: str, role: str, user_id: str | None, database_url: str | None = None) -> str:
    """A new key's secret (only its hash is stored). Raises runplane.errors.Conflict for a taken name."""
    db = _database(database_url)
    try:
        _, secret = await create_key(KeyStore(db), name=name, role=role, user_id=user_id)
        return secret
    finally:
        await db.close()


async def list_local_keys(database_url: str | None = None) -> list[dict[str, Any]]:
    """Every key as the API's `GET /v1/keys` answers it (never a secret)."""
    db = _database(database_url)
    try:
        store = KeyStore(db)
        rows = []
        offset = 0
        while True:
            page, total = await store.page(limit=1000, offset=offset)
            rows += page
            offset += len(page)
            if not page or offset >= total:
                break
    finally:
        await db.close()
    # The shape the API answers (handlers/presenters.py): `Z` timestamps, absent fields left out.
    return [dump(presenters.api_key(row)) for row in rows]


async def revoke_local_key(key_id: str, database_url: str | None = None) -> None:
    """Revokes the key at once. Raises runplane.errors.NotFound for an unknown id.

    Running servers cache resolved keys; the revocation epoch they share (in the rate limiter's storage)
    is bumped here too, so they stop accepting the key at once.
    """
    db = _database(database_url)
    settings = _settings(database_url)
    limiter = RateLimiter(
        storage_uri_for(settings.redis_url, settings.resolved_data_dir), settings.rate_limit
    )
    try:
        await revoke_key(KeyStore(db, revocations=SharedCounter(limiter, "key-revocations")), key_id)
    finally:
        await limiter.close()
        await db.close()
