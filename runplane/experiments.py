"""Experiments group tasks; like tasks, a user sees only its own."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from runplane.errors import NotFound
from runplane.security import Principal
from runplane.store.experiments import ExperimentStore
from runplane.store.tables import ExperimentRow, utcnow


class ExperimentManager:
    def __init__(self, store: ExperimentStore) -> None:
        self.store = store

    async def create(
        self,
        principal: Principal,
        *,
        name: str,
        description: str | None,
        commit_id: str | None,
        metadata: dict[str, str],
    ) -> ExperimentRow:
        now = utcnow()
        row = ExperimentRow(
            id=uuid.uuid4().hex,
            name=name,
            description=description,
            commit_id=commit_id,
            status="active",
            user_id=principal.user_id,
            metadata_=metadata,
            created_at=now,
            updated_at=now,
        )
        await self.store.insert(row)
        return row

    async def visible(self, principal: Principal, experiment_id: str) -> ExperimentRow:
        row = await self.store.get(experiment_id)
        if row is None or (not principal.is_admin and row.user_id != principal.user_id):
            raise NotFound("Experiment not found", details={"experiment_id": experiment_id})
        return row

    async def update(
        self, principal: Principal, experiment_id: str, changes: dict[str, Any]
    ) -> ExperimentRow:
        await self.visible(principal, experiment_id)
        row = await self.store.update(experiment_id, changes)
        if row is None:
            raise NotFound("Experiment not found", details={"experiment_id": experiment_id})
        return row

    async def page(
        self, principal: Principal, *, status: str | None, limit: int, offset: int
    ) -> tuple[Sequence[ExperimentRow], int]:
        user_id = None if principal.is_admin else principal.user_id
        return await self.store.page(user_id=user_id, status=status, limit=limit, offset=offset)

    async def task_counts(self, experiment_ids: Sequence[str]) -> dict[str, int]:
        return await self.store.task_counts(experiment_ids)
