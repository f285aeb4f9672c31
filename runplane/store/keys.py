"""Queries on API keys."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import func, select, update

from runplane import audit
from runplane.store import audit as audit_store
from runplane.store.database import Database
from runplane.store.tables import ApiKeyRow, utcnow

# last_used_at is a hint for operators, not an audit trail: writing it on every request would turn
# every read into a write, so each process records a key's use at most once a minute.
_TOUCH_INTERVAL_SECONDS = 60.0


class KeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._touched: dict[str, float] = {}

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
