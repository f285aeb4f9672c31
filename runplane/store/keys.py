"""Queries on API keys."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Protocol

from sqlalchemy import func, select, update

from runplane import audit
from runplane.store import audit as audit_store
from runplane.store.database import Database
from runplane.store.tables import ApiKeyRow, utcnow

# last_used_at is a hint for operators, not an audit trail: writing it on every request would turn
# every read into a write, so each process records a key's use at most once a minute.
_TOUCH_INTERVAL_SECONDS = 60.0
_MAX_CACHED_KEYS = 10_000

logger = logging.getLogger("runplane.keys")


class Epoch(Protocol):
    """A counter shared by every server process (``runplane.ratelimit.SharedCounter``)."""

    async def read(self) -> int: ...

    async def bump(self) -> int: ...


class KeyStore:
    """API key rows. With ``revocations`` (an epoch shared by every server process), active keys are cached
    in the process for up to ``cache_seconds``: a request with a cached key reads the epoch instead of
    querying the database. Every revocation bumps the epoch after its commit, so from the moment a revoke
    has been answered no process accepts the key again; a process whose epoch read fails does not use
    its cache. Without ``revocations`` (the CLI, tests) nothing is cached.
    """

    def __init__(
        self, db: Database, *, revocations: Epoch | None = None, cache_seconds: float = 10.0
    ) -> None:
        self.db = db
        self.revocations = revocations
        self.cache_seconds = cache_seconds
        self._touched: dict[str, float] = {}
        # key hash -> (row, the epoch read before the row was, when the entry stops being used)
        self._cache: dict[str, tuple[ApiKeyRow, int, float]] = {}

    async def _epoch(self) -> int | None:
        if self.revocations is None or self.cache_seconds <= 0:
            return None
        try:
            return await self.revocations.read()
        except Exception:
            logger.warning("key revocation epoch unreadable; key cache not used", exc_info=True)
            return None

    async def create(self, *, name: str, role: str, user_id: str, key_hash: str, prefix: str) -> ApiKeyRow:
        row = ApiKeyRow(
            id=uuid.uuid4().hex,
            name=name,
            role=role,
            user_id=user_id,
            key_hash=key_hash,
            prefix=prefix,
            created_at=utcnow(),
            revoked_at=None,
            last_used_at=None,
        )
        async with self.db.session() as session:
            session.add(row)
            await audit_store.append(session, _key_entry(audit.KEY_CREATED, "create", row))
        return row

    async def name_in_use(self, name: str) -> bool:
        async with self.db.reader() as session:
            found = await session.scalar(
                select(ApiKeyRow.id).where(ApiKeyRow.name == name, ApiKeyRow.revoked_at.is_(None)).limit(1)
            )
        return found is not None

    async def find_active(self, key_hash: str) -> ApiKeyRow | None:
        """The active (not revoked) key with this hash, or None; the row is read-only for callers."""
        epoch = await self._epoch()
        cached = self._cache.get(key_hash)
        if cached is not None:
            hit, cached_epoch, until = cached
            if epoch is not None and epoch == cached_epoch and time.monotonic() < until:
                await self._touch(hit.id)
                return hit
            del self._cache[key_hash]
        # The epoch is read before the row: a revocation committed after this read bumps it past `epoch`.
        row = await self._find_active(key_hash)
        if row is not None and epoch is not None:
            if len(self._cache) >= _MAX_CACHED_KEYS:
                self._cache.clear()
            self._cache[key_hash] = (row, epoch, time.monotonic() + self.cache_seconds)
        return row

    async def _find_active(self, key_hash: str) -> ApiKeyRow | None:
        async with self.db.reader() as session:
            row = await session.scalar(
                select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash, ApiKeyRow.revoked_at.is_(None))
            )
        if row is not None:
            await self._touch(row.id)
        return row

    async def _touch(self, key_id: str) -> None:
        now = time.monotonic()
        if now - self._touched.get(key_id, -_TOUCH_INTERVAL_SECONDS) < _TOUCH_INTERVAL_SECONDS:
            return
        self._touched[key_id] = now
        async with self.db.session() as session:
            await session.execute(
                update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=utcnow())
            )

    async def page(self, *, limit: int, offset: int) -> tuple[list[ApiKeyRow], int]:
        async with self.db.reader() as session:
            total = await session.scalar(select(func.count()).select_from(ApiKeyRow)) or 0
            rows = await session.scalars(
                select(ApiKeyRow)
                .order_by(ApiKeyRow.created_at.desc(), ApiKeyRow.id)
                .limit(limit)
                .offset(offset)
            )
            return list(rows), total

    async def get(self, key_id: str) -> ApiKeyRow | None:
        async with self.db.reader() as session:
            return await session.get(ApiKeyRow, key_id)

    async def revoke(self, key_id: str) -> bool:
        async with self.db.session() as session:
            row = await session.get(ApiKeyRow, key_id)
            if row is None:
                return False
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                await audit_store.append(session, _key_entry(audit.KEY_REVOKED, "revoke", row))
        self._cache.clear()
        if self.revocations is not None:
            try:
                await self.revocations.bump()
            except Exception:
                logger.warning(
                    "key revocation epoch not bumped; other processes may accept the key for up to %gs",
                    self.cache_seconds,
                    exc_info=True,
                )
        return True

    async def count_active(self) -> int:
        async with self.db.reader() as session:
            return (
                await session.scalar(
                    select(func.count()).select_from(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))
                )
                or 0
            )


def _key_entry(event_type: str, action: str, row: ApiKeyRow) -> audit.AuditEntry:
    # The key's id, name, role and user: never its secret, hash or prefix.
    return audit.AuditEntry(
        event_type=event_type,
        action=action,
        resource=f"key/{row.id}",
        metadata={"key_id": row.id, "name": row.name, "role": row.role, "key_user_id": row.user_id},
    )
