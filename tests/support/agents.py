"""Real worker agents (`runplane worker` processes) beside a real server, for end-to-end tests.

Used by the tests that need a whole system and nothing faked: a server from tests/support/server.py, one
user key and one worker key made through the API, and agents that may be started, SIGKILLed and started
again. Every wait is a poll on a condition with a deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.openapi import validate_read
from tests.support.server import REPO_ROOT, RunningServer, new_keys, running_server
from tests.support.waiting import poll

TERMINAL = frozenset({"completed", "failed", "cancelled"})
# Short leases so a killed worker's tasks come back within seconds; limits that never refuse.
FAST_LEASES = {
    "RUNPLANE_LEASE_SECONDS": "3",
    "RUNPLANE_HEARTBEAT_SECONDS": "0.5",
    "RUNPLANE_REAPER_SECONDS": "0.5",
    "RUNPLANE_RATE_LIMIT": "1000000/minute",
    "RUNPLANE_WORKER_RATE_LIMIT": "1000000/minute",
}


@dataclass
class Agent:
    """One `runplane worker` process (in its own session: a SIGKILL reaches it alone)."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would; its tasks' shims take their groups down."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class System:
    """A server, its keys and the agents started against it."""

    server: RunningServer
    root: Path
    http: httpx.Client
    user_key: str
    worker_key: str
    backend: str
    agents: list[Agent] = field(default_factory=list)

    @property
    def user(self) -> dict[str, str]:
        return {"X-API-Key": self.user_key}

    @property
    def admin(self) -> dict[str, str]:
        return {"X-API-Key": self.server.admin_key}

    def _worker_ids(self, name: str) -> set[str]:
        listed = self.http.get("/v1/scheduler/workers", headers=self.admin, params={"limit": 1000})
        assert listed.status_code == 200, listed.text
        return {w["id"] for w in listed.json()["workers"] if w["name"] == name and w["status"] == "active"}

    def start_agent(self, name: str, *options: str, wait: bool = True) -> Agent:
        """Starts `runplane worker --name NAME OPTIONS...`; with `wait`, returns once it has registered."""
        # A restarted agent registers anew, while its predecessor may still be listed until its lease ends.
        before = self._worker_ids(name)
        log_path = self.root / f"{name}-{len(self.agents)}.log"
        command = [sys.executable, "-m", "runplane.cli", "worker", "--api", self.server.base_url]
        command += ["--name", name, "--work-dir", str(self.root / name), *options]
        env = {**os.environ, "RUNPLANE_WORKER_KEY": self.worker_key}
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        agent = Agent(name, process, log_path)
        self.agents.append(agent)

        def registered() -> bool:
            if process.poll() is not None:
                pytest.fail(f"worker {name} exited with {process.returncode}:\n{agent.log()[-4000:]}")
            return bool(self._worker_ids(name) - before)

        if wait:
            # A bound on failure only: a worker process starting on a loaded 2-core machine took >60 s.
            poll(registered, timeout=180, what=f"worker {name} to register")
        return agent

    def submit(self, **body: Any) -> str:
        response = self.http.post("/v1/tasks", headers=self.user, json={"job_name": "job", **body})
        assert response.status_code == 201, response.text
        task_id: str = response.json()["id"]
        return task_id

    def task(self, task_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/tasks/{task_id}", headers=self.user)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def statuses(self, task_ids: list[str]) -> dict[str, str]:
        return {task_id: self.task(task_id)["status"] for task_id in task_ids}

    def wait_ended(self, task_ids: list[str], *, timeout: float) -> dict[str, dict[str, Any]]:
        """Every task, once all of them have ended; fails (naming the ones still open) at the deadline."""
        ended: dict[str, dict[str, Any]] = {}

        def all_ended() -> bool:
            for task_id in task_ids:
                if task_id not in ended:
                    task = self.task(task_id)
                    if task["status"] in TERMINAL:
                        ended[task_id] = task
            return len(ended) == len(task_ids)

        poll(
            all_ended,
            timeout=timeout,
            interval=0.2,
            what=f"{len(task_ids)} tasks to end ({len(task_ids) - len(ended)} still open)",
        )
        return ended

    def logs(self, task_id: str) -> str:
        response = self.http.get(f"/v1/tasks/{task_id}/logs", headers=self.user)
        assert response.status_code == 200, response.text
        return response.text

    def stop_agents(self) -> None:
        for agent in self.agents:
            agent.stop()


@contextmanager
def running_system(
    request: pytest.FixtureRequest, root: Path, database_url: str, env: dict[str, str] | None = None
) -> Iterator[System]:
    """A server on `database_url` (2 API processes, as served) with a user key and a worker key."""
    server_env = {**FAST_LEASES, "RUNPLANE_DATABASE_URL": database_url, **(env or {})}
    with (
        running_server(root / "server", workers=2, env=server_env) as server,
        httpx.Client(base_url=server.base_url, timeout=60, event_hooks={"response": [validate_read]}) as http,
    ):
        keys = new_keys(http, server.admin_key, "e2e")
        system = System(server, root, http, keys["user"], keys["worker"], request.param)
        try:
            yield system
        finally:
            system.stop_agents()
