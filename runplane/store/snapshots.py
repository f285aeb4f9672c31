"""Queries on code snapshots."""

from __future__ import annotations

from sqlalchemy import delete, exists, or_, select

from runplane.lifecycle import ACTIVE
from runplane.store.database import Database
from runplane.store.tables import SnapshotRow, TaskPartRow, TaskRow, WorkerRow


class SnapshotStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, row: SnapshotRow) -> None:
        async with self.db.session() as session:
            session.add(row)

    async def get(self, snapshot_id: str) -> SnapshotRow | None:
        async with self.db.reader() as session:
            return await session.get(SnapshotRow, snapshot_id)

    async def delete(self, snapshot_id: str) -> None:
        async with self.db.session() as session:
            await session.execute(delete(SnapshotRow).where(SnapshotRow.id == snapshot_id))

    async def needed_by_workers_of(self, snapshot_id: str, user_id: str) -> bool:
        """Whether a worker registered by this (worker key's) user runs an active task from the snapshot,
        or a part (any rank) of a multi-node one's current attempt that it has not let go of."""
        runs_a_part = exists().where(
            TaskPartRow.task_id == TaskRow.id,
            TaskPartRow.attempt == TaskRow.retry_count + 1,
            TaskPartRow.worker_id == WorkerRow.id,
            TaskPartRow.released.is_(False),
        )
        query = select(
            exists().where(
                TaskRow.snapshot_id == snapshot_id,
                TaskRow.status.in_(ACTIVE),
                WorkerRow.user_id == user_id,
                or_(TaskRow.worker_id == WorkerRow.id, runs_a_part),
            )
        )
        async with self.db.reader() as session:
            return bool(await session.scalar(query))
