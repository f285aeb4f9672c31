"""What a worker sends the server about a task it runs: log lines and artifact files.

Only the worker key that registered the worker may act as it, and only for a task assigned to that worker
that is still active (preparing, running or collecting). Another key's worker, or an unknown one, is 404;
a task that is not this worker's, or has already ended, is 409.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Sequence

from runplane.artifacts import ArtifactManager
from runplane.errors import Conflict, NotFound
from runplane.logstore import LogStore
from runplane.security import Principal
from runplane.store.database import Database
from runplane.store.tables import ArtifactRow, TaskRow, WorkerRow
from runplane.store.tasks import ACTIVE


class WorkerUploads:
    def __init__(self, db: Database, logs: LogStore, artifacts: ArtifactManager) -> None:
        self.db = db
        self.logs = logs
        self.artifacts = artifacts

    async def assigned_task(self, principal: Principal, worker_id: str, task_id: str) -> TaskRow:
        async with self.db.reader() as session:
            worker = await session.get(WorkerRow, worker_id)
            task = await session.get(TaskRow, task_id)
        if worker is None or worker.user_id != principal.user_id:
            raise NotFound("Worker not found", details={"worker_id": worker_id})
        if task is None:
            raise NotFound("Task not found", details={"task_id": task_id})
        if task.worker_id != worker_id:
            raise Conflict(
                "This task is not assigned to this worker",
                details={"task_id": task_id, "worker_id": worker_id},
            )
        if task.status not in ACTIVE:
            raise Conflict(
                f"This task is {task.status}, not running",
                details={"task_id": task_id, "status": task.status},
            )
        return task

    async def append_logs(
        self, principal: Principal, worker_id: str, task_id: str, texts: Sequence[str]
    ) -> None:
        task = await self.assigned_task(principal, worker_id, task_id)
        await self.logs.append(task, texts)

    async def upload_artifact(
        self,
        principal: Principal,
        worker_id: str,
        task_id: str,
        *,
        path: str,
        sha256: str,
        chunks: AsyncIterable[bytes],
    ) -> ArtifactRow:
        task = await self.assigned_task(principal, worker_id, task_id)
        return await self.artifacts.upload(task.id, path, sha256, chunks)
