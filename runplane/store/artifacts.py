"""Queries on task artifacts: one row per (task, attempt, path), replaced when the same path is uploaded again."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite

from runplane.store.database import Database, Transaction
from runplane.store.tables import ArtifactRow


@functools.cache
def _upsert_statement(backend: str) -> Any:
    """INSERT ... ON CONFLICT (task_id, attempt, path) DO UPDATE, built once per backend (every task's
    end writes run.json through it; building it per call cost more than running it, issue 11 §2)."""
    insert = postgresql.insert if backend == "postgresql" else sqlite.insert
    statement = insert(cast(Table, ArtifactRow.__table__))
    return statement.on_conflict_do_update(
        index_elements=["task_id", "attempt", "path"],
        set_={name: statement.excluded[name] for name in ("size", "sha256", "content_type", "created_at")},
    )


class ArtifactStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def upsert(
        self,
        *,
        task_id: str,
        attempt: int,
        path: str,
        size: int,
        sha256: str,
        content_type: str,
        created_at: datetime,
    ) -> ArtifactRow:
        """Insert the artifact, or replace the one at the same path, in one statement on either backend,
        in a transaction of its own."""
        values = {
            "task_id": task_id,
            "attempt": attempt,
            "path": path,
            "size": size,
            "sha256": sha256,
            "content_type": content_type,
            "created_at": created_at,
        }
        async with self.db.session() as session:
            await session.execute(_upsert_statement(self.db.backend), values)
        return ArtifactRow(**values)

    async def upsert_many(self, rows: Sequence[dict[str, Any]], *, within: Transaction) -> None:
        """`upsert` for several artifacts (each a dict of `upsert`'s keywords but `within`), in the open
        transaction `within`, as one executemany."""
        if rows:
            await within.execute(_upsert_statement(self.db.backend), list(rows))

    async def get(self, task_id: str, path: str, attempt: int = 1) -> ArtifactRow | None:
        async with self.db.reader() as session:
            return await session.get(ArtifactRow, (task_id, attempt, path))

    async def registered(self, attempts: Mapping[str, int], path: str) -> set[str]:
        """Of the tasks in `attempts` (task id → attempt), those that have an artifact at `path` of that
        attempt: one SELECT for all of them."""
        if not attempts:
            return set()
        artifacts = cast(Table, ArtifactRow.__table__)
        async with self.db.reader() as session:
            found = await session.execute(
                select(artifacts.c.task_id, artifacts.c.attempt).where(
                    artifacts.c.task_id.in_(list(attempts)), artifacts.c.path == path
                )
            )
            return {task_id for task_id, attempt in found if attempts[task_id] == attempt}

    async def for_task(self, task_id: str, attempt: int = 1) -> Sequence[ArtifactRow]:
        async with self.db.reader() as session:
            rows = await session.scalars(
                select(ArtifactRow)
                .where(ArtifactRow.task_id == task_id, ArtifactRow.attempt == attempt)
                .order_by(ArtifactRow.path)
            )
            return rows.all()
