"""`runplane keys … --local`: keys in this machine's database (the settings' database URL), no API needed.

For a lost admin key or a worker key on the server's machine; everything else goes over the API. The
database must exist already (the server, `runplane up` or `runplane migrate` creates it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError

from handlers import presenters
from handlers.presenters import dump
from runplane.keys import create_key, revoke_key
from runplane.redaction import redact_url
from runplane.settings import Settings
from runplane.store.database import Database, migrate, schema_revision
from runplane.store.keys import KeyStore

_HOW_TO_POINT = (
    "run it in the server's directory, or point at the server's database with --database-url URL, "
    "RUNPLANE_DATABASE_URL or RUNPLANE_DATA_DIR (`runplane migrate` creates a new one)"
)


class NoLocalDatabase(Exception):
    """`--local` found no runplane database where it looked; the message says where and what to do."""


def _database(database_url: str | None = None) -> Database:
    """The server's database (``database_url``, else the settings'), brought to the newest schema.

    Never creates one: a key written into a new, empty database is a key the server never sees. Raises
    :class:`NoLocalDatabase` when the database does not exist, has no runplane schema or cannot be reached.
    """
    settings = Settings(database_url=database_url) if database_url else Settings()
    url = settings.sqlalchemy_url
    try:
        revision = schema_revision(url)
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise NoLocalDatabase(
            f"cannot open the database {redact_url(url)} ({reason}); {_HOW_TO_POINT}"
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
    """Revokes the key at once. Raises runplane.errors.NotFound for an unknown id."""
    db = _database(database_url)
    try:
        await revoke_key(KeyStore(db), key_id)
    finally:
        await db.close()
