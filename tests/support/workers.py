"""Helpers for tests that act as worker agents over the API, and reach into the database directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from runplane.store.database import Database
from runplane.store.tables import TaskRow, WorkerRow
from tests.conftest import auth

H100 = {"index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_mb": 81559, "uuid": "GPU-1"}


class Recent:
    """Equal to an ISO timestamp within `tolerance` seconds of now + `offset` (for whole-body asserts)."""

    def __init__(self, offset: float = 0.0, tolerance: float = 30.0) -> None:
        self.offset = offset
        self.tolerance = tolerance

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return False
        try:
            moment = datetime.fromisoformat(other)
        except ValueError:
            return False
        if moment.tzinfo is None:
            return False
        expected = datetime.now(UTC) + timedelta(seconds=self.offset)
        return abs((moment - expected).total_seconds()) <= self.tolerance

    def __repr__(self) -> str:
        return f"Recent(offset={self.offset})"


def registration(
    name: str = "w1",
    *,
    cpu: int = 8,
    memory_gb: float = 32,
    gpus: list[dict[str, Any]] | None = None,
    slots: int = 2,
) -> dict[str, Any]:
    return {
        "name": name,
        "hostname": f"{name}.example",
        "version": "1.2.3",
        "slots": slots,
        "capabilities": {"cpu_cores": cpu, "memory_gb": memory_gb, "gpus": gpus or []},
    }


def free(slots: int = 1, cpu: int = 8, memory_gb: float = 32, gpus: int = 0) -> dict[str, Any]:
    return {"free_slots": slots, "free_cpu": cpu, "free_memory_gb": memory_gb, "free_gpus": gpus}


async def register(client: httpx.AsyncClient, key: str, name: str = "w1", **capabilities: Any) -> str:
    response = await client.post("/v1/workers", headers=auth(key), json=registration(name, **capabilities))
    assert response.status_code == 201, response.text
    worker_id: str = response.json()["worker_id"]
    return worker_id


async def submit(client: httpx.AsyncClient, key: str, name: str = "job", **extra: Any) -> str:
    response = await client.post(
        "/v1/tasks", headers=auth(key), json={"job_name": name, "entrypoint": "python train.py", **extra}
    )
    assert response.status_code == 201, response.text
    task_id: str = response.json()["id"]
    return task_id


async def claim(
    client: httpx.AsyncClient, key: str, worker_id: str, **resources: Any
) -> dict[str, Any] | None:
    response = await client.post(f"/v1/workers/{worker_id}/claim", headers=auth(key), json=free(**resources))
    assert response.status_code == 200, response.text
    assignment: dict[str, Any] | None = response.json().get("assignment")  # absent: nothing fits
    return assignment


async def claimed_id(client: httpx.AsyncClient, key: str, worker_id: str, **resources: Any) -> str | None:
    """The id of the task a claim assigned, or None."""
    assignment = await claim(client, key, worker_id, **resources)
    return None if assignment is None else str(assignment["task_id"])


async def report(
    client: httpx.AsyncClient, key: str, worker_id: str, task_id: str, **body: Any
) -> httpx.Response:
    return await client.post(f"/v1/workers/{worker_id}/tasks/{task_id}/report", headers=auth(key), json=body)


async def heartbeat(
    client: httpx.AsyncClient, key: str, worker_id: str, held: list[str] | None = None
) -> httpx.Response:
    return await client.post(
        f"/v1/workers/{worker_id}/heartbeat", headers=auth(key), json={"running_task_ids": held or []}
    )


async def task_of(client: httpx.AsyncClient, key: str, task_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/tasks/{task_id}", headers=auth(key))
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()
    return task


async def age_task(db: Database, task_id: str, minutes: float) -> None:
    """Makes a queued task look as if it had waited `minutes` longer."""
    async with db.session() as session:
        row = await session.get(TaskRow, task_id)
        assert row is not None
        await session.execute(
            update(TaskRow)
            .where(TaskRow.id == task_id)
            .values(queued_at=row.queued_at - timedelta(minutes=minutes))
        )


async def end_lease(db: Database, worker_id: str) -> None:
    """Makes a worker's lease end a second ago, as if it had stopped heartbeating."""
    async with db.session() as session:
        await session.execute(
            update(WorkerRow)
            .where(WorkerRow.id == worker_id)
            .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def assignment_body(task_id: str = "t1", **overrides: Any) -> dict[str, Any]:
    """A TaskAssignment as a claim answers it: an entrypoint task with default resources.

    Fields without a value are left out, as the server leaves them out (an override of None removes one).
    """
    body = {
        "task_id": task_id,
        "attempt": 1,
        "job_name": "job",
        "entrypoint": "train.py",
        "args": [],
        "inputs": {},
        "dataset_specs": [],
        "cpu": 1,
        "memory_gb": 1,
        "gpu": 0,
        "env": {},
        "secrets": {},
        "kind": "task",
        **overrides,
    }
    return {name: value for name, value in body.items() if value is not None}
