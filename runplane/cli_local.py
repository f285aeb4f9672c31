"""`runplane keys … --local`: keys in this machine's database (the settings' database URL), no API needed.

For the first key of an installation and for a lost admin key; everything else goes over the API.
"""

from __future__ import annotations

from runplane.keys import create_key, revoke_key
from runplane.ratelimit import RateLimiter, SharedCounter, storage_uri_for
from runplane.settings import Settings
from runplane.store.database import Database, migrate
from runplane.store.keys import KeyStore


def _database() -> Database:
    """The configured database, brought to the newest schema first (a fresh data dir gets one)."""
    settings = Settings()
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.sqlalchemy_url)
    return Database(settings.sqlalchemy_url)


async def create_local_key(name: str, role: str, user_id: str | None) -> str:
    """A new key's secret (only its hash is stored). Raises runplane.errors.Conflict for a taken name."""
    db = _database()
    try:
        _, secret = await create_key(KeyStore(db), name=name, role=role, user_id=user_id)
        return secret
    finally:
        await db.close()


async def list_local_keys() -> list[dict[str, str | None]]:
    """Every key, as `keys list --json` shows them (never a secret)."""
    db = _database()
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
    return [
        {
            "id": row.id,
            "name": row.name,
            "role": row.role,
            "user_id": row.user_id,
            "prefix": row.prefix,
            "created_at": row.created_at.isoformat(),
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        }
        for row in rows
    ]


async def revoke_local_key(key_id: str) -> None:
    """Revokes the key at once. Raises runplane.errors.NotFound for an unknown id.

    Running servers cache resolved keys; the revocation epoch they share (in the rate limiter's storage)
    is bumped here too, so they stop accepting the key at once.
    """
    db = _database()
    settings = Settings()
    limiter = RateLimiter(
        storage_uri_for(settings.redis_url, settings.resolved_data_dir), settings.rate_limit
    )
    try:
        await revoke_key(KeyStore(db, revocations=SharedCounter(limiter, "key-revocations")), key_id)
    finally:
        await limiter.close()
        await db.close()
