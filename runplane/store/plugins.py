"""Queries on the tracking plugins: their configurations (with the audit event of each change), the
plugin status stored on a task, and the experiment name a task's MLflow run is filed under."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update

from runplane import lifecycle
from runplane.audit import AuditEntry
from runplane.store import audit as audit_store
from runplane.store.database import Database
from runplane.store.tables import ExperimentRow, PluginRow, TaskRow, utcnow


class PluginStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def all(self) -> dict[str, PluginRow]:
        """Every configured plugin by name (a plugin without a row has its default configuration)."""
        async with self.db.reader() as session:
            rows = await session.scalars(select(PluginRow))
            return {row.name: row for row in rows}

    async def get(self, name: str) -> PluginRow | None:
        async with self.db.reader() as session:
            found: PluginRow | None = await session.get(PluginRow, name)
            return found

    async def put(
        self,
        name: str,
        *,
        enabled: bool,
        mode: str,
        settings: dict[str, Any],
        secrets: dict[str, Any],
        updated_by: str,
        entry: AuditEntry,
    ) -> PluginRow:
        """Stores the configuration and appends `entry` to the audit chain, in one transaction."""
        async with self.db.session() as session:
            row = await session.get(PluginRow, name, with_for_update=True)
            if row is None:
                row = PluginRow(name=name)
                session.add(row)
            row.enabled, row.mode, row.settings, row.secrets = enabled, mode, settings, secrets
            row.updated_at, row.updated_by = utcnow(), updated_by
            await session.flush()
            await audit_store.append(session, entry)
        return row

    async def stored_secrets(self, name: str) -> dict[str, Any]:
        row = await self.get(name)
        return dict(row.secrets) if row is not None else {}

    async def delete(self, name: str, *, entry: AuditEntry) -> bool:
        """Forgets the plugin's configuration (and its secrets), auditing it; whether there was one."""
        async with self.db.session() as session:
            result = await session.execute(delete(PluginRow).where(PluginRow.name == name))
            await audit_store.append(session, entry)
        return bool(getattr(result, "rowcount", 0))

    async def set_task_status(self, task_id: str, status: dict[str, Any]) -> None:
        """Stores the status a claim set up (a whole replacement) and marks the task's plugins open (tended
        by :meth:`open_tasks` until they are wound up); only these two columns are written."""
        async with self.db.session() as session:
            await session.execute(
                update(TaskRow)
                .where(TaskRow.id == task_id)
                .values(plugin_status=status, plugins_open=bool(status) or None)
                .execution_options(synchronize_session=False)
            )

    async def open_tasks(self, statuses: Sequence[str], limit: int = 1000) -> list[TaskRow]:
        """Tasks in one of `statuses` whose plugins are open (claimed with a plugin, not wound up yet)."""
        async with self.db.reader() as session:
            rows = await session.scalars(
                select(TaskRow)
                .where(TaskRow.plugins_open.is_(True), TaskRow.status.in_(statuses))
                .order_by(TaskRow.id)
                .limit(limit)
            )
            return list(rows)

    async def refresh_task_status(self, task_id: str, retry_count: int, status: dict[str, Any]) -> bool:
        """Stores a re-checked status while the task is still in the attempt that was read (active, same
        `retry_count`): a status checked before a requeue or an end is not written over a newer one."""
        async with self.db.session() as session:
            result = await session.execute(
                update(TaskRow)
                .where(
                    TaskRow.id == task_id,
                    TaskRow.retry_count == retry_count,
                    TaskRow.status.in_(lifecycle.ACTIVE),
                    TaskRow.plugins_open.is_(True),
                )
                .values(plugin_status=status)
                .execution_options(synchronize_session=False)
            )
        return bool(getattr(result, "rowcount", 0))

    async def close_task_status(self, task_id: str, status: dict[str, Any]) -> bool:
        """Stores an ended task's wound-up status and closes its plugins, if it is still ended (a retry in
        between re-opens them at its claim)."""
        async with self.db.session() as session:
            result = await session.execute(
                update(TaskRow)
                .where(
                    TaskRow.id == task_id,
                    TaskRow.status.in_(lifecycle.TERMINAL),
                    TaskRow.plugins_open.is_(True),
                )
                .values(plugin_status=status, plugins_open=None)
                .execution_options(synchronize_session=False)
            )
        return bool(getattr(result, "rowcount", 0))

    async def experiment_name(self, experiment_id: str) -> str | None:
        async with self.db.reader() as session:
            name: str | None = await session.scalar(
                select(ExperimentRow.name).where(ExperimentRow.id == experiment_id)
            )
            return name
