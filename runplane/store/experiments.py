"""Queries on experiments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from runplane.store.database import Database
from runplane.store.tables import ExperimentRow, TaskRow, utcnow


class ExperimentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, row: ExperimentRow) -> None:
        async with self.db.session() as session:
            session.add(row)

    async def get(self, experiment_id: str) -> ExperimentRow | None:
        async with self.db.reader() as session:
            return await session.get(ExperimentRow, experiment_id)

    async def update(self, experiment_id: str, changes: dict[str, Any]) -> ExperimentRow | None:
        async with self.db.session() as session:
            row = await session.get(ExperimentRow, experiment_id)
            if row is None:
                return None
            for name, value in changes.items():
                setattr(row, "metadata_" if name == "metadata" else name, value)
            row.updated_at = utcnow()
        return row

    async def page(
        self, *, user_id: str | None, status: str | None, limit: int, offset: int
    ) -> tuple[Sequence[ExperimentRow], int]:
        conditions = []
        if user_id is not None:
            conditions.append(ExperimentRow.user_id == user_id)
        if status is not None:
            conditions.append(ExperimentRow.status == status)
        async with self.db.reader() as session:
            total = (
                await session.scalar(select(func.count()).select_from(ExperimentRow).where(*conditions)) or 0
            )
            rows = await session.scalars(
                select(ExperimentRow)
                .where(*conditions)
                .order_by(ExperimentRow.created_at.desc(), ExperimentRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return rows.all(), total

    async def task_counts(self, experiment_ids: Sequence[str]) -> dict[str, int]:
        if not experiment_ids:
            return {}
        async with self.db.reader() as session:
            result = await session.execute(
                select(TaskRow.experiment_id, func.count())
                .where(TaskRow.experiment_id.in_(experiment_ids))
                .group_by(TaskRow.experiment_id)
            )
            return {str(experiment_id): count for experiment_id, count in result.all()}
