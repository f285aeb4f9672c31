"""What a worker sends the server about a task it runs: log lines and artifact files.

Only the worker key that registered the worker may act as it, and only for a task assigned to that worker
that is still active (preparing, running or collecting). Another key's worker, or an unknown one, is 404;
a task that is not this worker's, on another attempt, or already ended, is 409. Each of these requests
renews the worker's lease (``renew_lease``, wired to :meth:`runplane.workers.WorkerManager.touch`).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Sequence

from runplane.artifacts import ArtifactManager
from runplane.errors import Conflict, NotFound
from runplane.lifecycle import ACTIVE
from runplane.logstore import AppendResult, LogStore
from runplane.security import Principal
from runplane.store.database import Database
from runplane.store.tables import ArtifactRow, TaskRow, WorkerRow
from runplane.store.workers import WorkerStore
from runplane.workers import check_assigned


class WorkerUploads:
    def __init__(
        self,
        db: Database,
        logs: LogStore,
        artifacts: ArtifactManager,
        *,
        renew_lease: Callable[[WorkerRow], Awaitable[WorkerRow]] | None = None,
    ) -> None:
        self.db = db
        self.store = WorkerStore(db)
        self.logs = logs
        self.artifacts = artifacts
        # Renews the worker's lease on each request (`WorkerManager.touch`, given by build_services).
        self.renew_lease = renew_lease

    async def assigned_task(
        self, principal: Principal, worker_id: str, task_id: str, *, attempt: int | None = None
    ) -> TaskRow:
        worker, task = await self.store.worker_and_task(worker_id, task_id)
        if worker is None or worker.user_id != principal.user_id:
            raise NotFound("Worker not found", details={"worker_id": worker_id})
        if self.renew_lease is not None:
            await self.renew_lease(worker)
        if task is None:
            raise NotFound("Task not found", details={"task_id": task_id})
        check_assigned(task, worker_id, attempt)
        if task.status not in ACTIVE:
            raise Conflict(
                f"This task is {task.status}, not running",
                details={"task_id": task_id, "status": task.status},
            )
        return task

    async def append_logs(
        self,
        principal: Principal,
        worker_id: str,
        task_id: str,
        texts: Sequence[str],
        *,
        attempt: int,
        first_line: int,
    ) -> AppendResult:
        """Stores a batch of the attempt's output from index `first_line` on, each line once."""
        task = await self.assigned_task(principal, worker_id, task_id, attempt=attempt)
        return await self.logs.append(task, texts, attempt=attempt, first_line=first_line)

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
        return await self.artifacts.upload(task.id, path, sha256, chunks, attempt=task.retry_count + 1)
