"""Driving a task through its life with the worker API, as a worker agent would, over the in-process client."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from runplane.keys import create_key
from runplane.settings import Settings
from runplane.store.database import Database
from runplane.store.keys import KeyStore
from tests.conftest import auth

CAPABILITIES = {"cpu_cores": 8, "memory_gb": 32, "gpus": []}
FREE = {"free_slots": 1, "free_cpu": 8, "free_memory_gb": 32, "free_gpus": 0}


async def new_worker_key(settings: Settings, name: str) -> str:
    """Another worker key (its own user id), beside the `worker_key` fixture's."""
    db = Database(settings.sqlalchemy_url)
    try:
        _, secret = await create_key(KeyStore(db), name=name, role="worker")
        return secret
    finally:
        await db.close()


@dataclass
class FakeWorker:
    client: httpx.AsyncClient
    key: str
    worker_id: str = ""
    # Per task: the attempt it was claimed on and the index of the next log line to send.
    attempts: dict[str, int] = field(default_factory=dict)
    next_line: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"/v1/workers/{self.worker_id}"

    async def register(self, name: str = "w1") -> FakeWorker:
        body = {
            "name": name,
            "hostname": "host-1",
            "version": "test",
            "slots": 1,
            "capabilities": CAPABILITIES,
        }
        response = await self.client.post("/v1/workers", headers=auth(self.key), json=body)
        assert response.status_code == 201, response.text
        self.worker_id = response.json()["worker_id"]
        return self

    async def claim(self, task_id: str) -> dict[str, Any]:
        response = await self.client.post(f"{self.base}/claim", headers=auth(self.key), json=FREE)
        assert response.status_code == 200, response.text
        assignment = response.json().get("assignment")
        assert assignment is not None and assignment["task_id"] == task_id, assignment
        self.attempts[task_id] = int(assignment["attempt"])
        self.next_line[task_id] = 0
        return dict(assignment)

    async def report(self, task_id: str, **body: Any) -> dict[str, Any]:
        response = await self.client.post(
            f"{self.base}/tasks/{task_id}/report", headers=auth(self.key), json=body
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def log(
        self, task_id: str, *texts: str, stream: str = "stdout", first_line: int | None = None
    ) -> httpx.Response:
        """Sends one log batch; by default it follows the last one sent (``first_line`` overrides)."""
        lines = [{"stream": stream, "text": text} for text in texts]
        start = self.next_line.get(task_id, 0) if first_line is None else first_line
        body = {"attempt": self.attempts.get(task_id, 1), "first_line": start, "lines": lines}
        response = await self.client.post(
            f"{self.base}/tasks/{task_id}/logs", headers=auth(self.key), json=body
        )
        if response.status_code == 204:
            self.next_line[task_id] = max(self.next_line.get(task_id, 0), start + len(texts))
        return response

    async def upload(
        self, task_id: str, path: str, data: bytes, *, sha256: str | None = None
    ) -> httpx.Response:
        return await self.client.post(
            f"{self.base}/tasks/{task_id}/artifacts",
            headers={**auth(self.key), "Content-Type": "application/octet-stream"},
            params={"path": path, "sha256": sha256 or hashlib.sha256(data).hexdigest()},
            content=data,
        )

    async def start(self, task_id: str) -> None:
        """Claimed (preparing), then running."""
        await self.claim(task_id)
        await self.report(task_id, status="running")

    async def finish(self, task_id: str, status: str = "completed", **extra: Any) -> None:
        await self.report(task_id, status="collecting")
        await self.report(task_id, status=status, **extra)

    async def complete_next(self, summary: dict[str, Any] | None) -> str:
        """Claims the next queued task and completes it, with a results.json holding ``summary`` (when
        given); the task's id."""
        response = await self.client.post(f"{self.base}/claim", headers=auth(self.key), json=FREE)
        assert response.status_code == 200, response.text
        task_id = str(response.json()["assignment"]["task_id"])
        await self.report(task_id, status="running")
        if summary is not None:
            # json.dumps writes NaN and Infinity as a task's json.dump may: results.json is the task's text.
            document = json.dumps({"summary": summary, "rows": []}).encode()
            assert (await self.upload(task_id, "results.json", document)).status_code == 201
        await self.finish(task_id)
        return task_id
