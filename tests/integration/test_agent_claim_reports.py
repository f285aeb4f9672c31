"""Issue 11 §2, the agent's side: final reports ride on claims. Real server (`runplane serve`, real HTTP),
real agents in this process (their HTTP client wrapped only to count what it sends), real task processes.

Worker-side behaviour: on SQLite (tests/integration/test_claim_reports.py covers the server on both
backends). Every wait is a poll with a deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from generated.models import ClaimRequest, ClaimResult, TaskReport, TaskReportReply
from runplane.worker import agent as agent_module
from runplane.worker import client as api
from runplane.worker.agent import AgentOptions, WorkerAgent
from runplane.worker.capabilities import MachineCapabilities
from tests.support.live import module_database
from tests.support.openapi import validate_read
from tests.support.server import RunningServer, new_keys, running_server

pytestmark = [pytest.mark.integration, pytest.mark.anyio, pytest.mark.slow]

SERVER_ENV = {
    "RUNPLANE_LEASE_SECONDS": "6",
    "RUNPLANE_HEARTBEAT_SECONDS": "0.5",
    "RUNPLANE_REAPER_SECONDS": "0.5",
    "RUNPLANE_RATE_LIMIT": "1000000/minute",
    "RUNPLANE_WORKER_RATE_LIMIT": "1000000/minute",
}
FINAL = frozenset({"completed", "failed", "cancelled"})


@dataclass
class Server:
    server: RunningServer
    user_key: str
    worker_key: str


@pytest.fixture(scope="module", params=["sqlite"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("claim-reports")
    with (
        module_database(request, root) as database_url,
        running_server(root / "server", env={**SERVER_ENV, "RUNPLANE_DATABASE_URL": database_url}) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as http,
    ):
        keys = new_keys(http, server.admin_key, "exchange")
        yield Server(server, keys["user"], keys["worker"])


class Counting(api.WorkerClient):
    """The agent's client, counting the reports it sends with claims and by themselves. `server` plays an
    older server: "ignores" (the claim's reports never reach it, so its answer has none), "refuses" (a
    claim with reports is 400, as a server whose schema does not know the field answers)."""

    def __init__(self, *args: Any, server: str = "current", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server = server
        self.carried: list[str] = []
        self.alone: list[str] = []
        self.claims_with_reports = 0

    async def claim(
        self, worker_id: str, request: ClaimRequest, *, retry: api.RetryPolicy | None = None
    ) -> ClaimResult:
        reports = request.reports or []
        if reports and self.server == "ignores":
            request = request.model_copy(update={"reports": None})
        elif reports and self.server == "refuses":
            body = {**request.model_dump(mode="json", exclude_none=True), "not_known_here": 1}
            response = await self._call(
                "POST", f"/v1/workers/{worker_id}/claim", json=body, idempotent=False, retry=retry
            )
            raise AssertionError(f"the server took an unknown field: {response.text}")
        result = await super().claim(worker_id, request, retry=retry)
        if request.reports:
            self.claims_with_reports += 1
            self.carried += [str(item.report.status.value) for item in request.reports if item.report.status]
        return result

    async def report(self, worker_id: str, task_id: str, report: TaskReport) -> TaskReportReply:
        if report.status is not None and report.status.value in FINAL:
            self.alone.append(report.status.value)
        return await super().report(worker_id, task_id, report)


@dataclass
class Harness:
    served: Server
    http: httpx.AsyncClient
    work: Path
    agents: list[tuple[WorkerAgent, asyncio.Task[None]]] = field(default_factory=list)

    @property
    def user(self) -> dict[str, str]:
        return {"X-API-Key": self.served.user_key}

    def start(self, *, server: str = "current", **options: Any) -> tuple[WorkerAgent, Counting]:
        client = Counting(
            self.served.server.base_url, self.served.worker_key, timeout_seconds=30, server=server
        )
        values: dict[str, Any] = {
            "api_url": self.served.server.base_url,
            "api_key": self.served.worker_key,
            "name": f"exchange-{len(self.agents)}",
            "work_dir": self.work / f"agent-{len(self.agents)}",
            "slots": 2,
            "poll_seconds": 0.2,
            "claim_wait_seconds": 1.0,
            "grace_seconds": 20.0,
            **options,
        }
        agent = WorkerAgent(
            AgentOptions(**values),
            machine=MachineCapabilities(cpu_cores=2, memory_gb=4, gpus=[]),
            client=client,
        )
        self.agents.append((agent, asyncio.ensure_future(agent.run())))
        return agent, client

    async def submit(self, entrypoint: str, **extra: Any) -> str:
        response = await self.http.post(
            "/v1/tasks",
            headers=self.user,
            json={"job_name": "exchange", "entrypoint": entrypoint, "cpu": 1, "memory_gb": 0.25, **extra},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def task(self, task_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/v1/tasks/{task_id}", headers=self.user)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def ended(self, task_ids: list[str], within: float = 90.0) -> list[dict[str, Any]]:
        async def all_ended() -> list[dict[str, Any]] | None:
            tasks = [await self.task(task_id) for task_id in task_ids]
            return tasks if all(task["status"] in FINAL for task in tasks) else None

        tasks: list[dict[str, Any]] = await until(all_ended, within, f"tasks {task_ids} to end")
        return tasks


async def until(check: Callable[[], Any], within: float, what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = check()
        if asyncio.iscoroutine(found):
            found = await found
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


async def sent(client: Counting, count: int) -> None:
    """Until `count` final reports have gone, with claims or by themselves. A claim's reports are counted
    once its answer is back, which may be after a test has seen their tasks end: the server commits the
    ends before it answers."""
    await until(lambda: len(client.carried) + len(client.alone) >= count, 30, f"{count} final reports")


@pytest.fixture
async def harness(served: Server, tmp_path: Path) -> AsyncIterator[Harness]:
    async with httpx.AsyncClient(
        base_url=served.server.base_url, timeout=30, event_hooks={"response": [_validate]}
    ) as http:
        found = Harness(served, http, tmp_path)
        try:
            yield found
        finally:
            for agent, job in found.agents:
                if not job.done():
                    agent.request_stop()
                    agent.request_stop()
            jobs = [job for _, job in found.agents]
            if jobs:
                await asyncio.wait(jobs, timeout=60)
            for _, job in found.agents:
                if job.done() and not job.cancelled() and job.exception() is not None:
                    raise job.exception()  # type: ignore[misc]


async def _validate(response: httpx.Response) -> None:
    await response.aread()
    validate_read(response)


@pytest.fixture
def no_linger(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reports wait in the outbox for a claim as long as a test lasts: one sent by itself was sent so
    because no claim would take it, never because a loaded machine made a claim late."""
    monkeypatch.setattr(agent_module, "_OUTBOX_LINGER_SECONDS", 600.0)


async def test_ended_tasks_are_reported_through_the_next_claims(harness: Harness, no_linger: None) -> None:
    agent, client = harness.start()
    task_ids = [await harness.submit("true") for _ in range(6)]
    tasks = await harness.ended(task_ids)
    assert [task["status"] for task in tasks] == ["completed"] * 6
    # Their `running` folded into the end (a no-op outlives no start delay), recorded by the server.
    assert all(task["started_at"] is not None for task in tasks)
    await sent(client, 6)
    assert client.alone == []
    assert sorted(client.carried) == ["completed"] * 6
    assert client.claims_with_reports <= 6
    assert agent._resources.free_slots == 2


async def test_tasks_that_end_together_are_reported_by_one_claim(harness: Harness, no_linger: None) -> None:
    """The claim at the first end waits (`claim_gather_seconds`) for the other tasks that still run:
    one claim carries both ends, instead of one claim at each."""
    task_ids = [await harness.submit("true") for _ in range(2)]
    _agent, client = harness.start(slots=2, claim_gather_seconds=60.0)
    tasks = await harness.ended(task_ids)
    assert [task["status"] for task in tasks] == ["completed"] * 2
    await sent(client, 2)
    assert client.carried == ["completed"] * 2 and client.claims_with_reports == 1


async def test_a_claim_waits_for_other_tasks_to_end_no_longer_than_the_gather_time(
    harness: Harness, no_linger: None
) -> None:
    _agent, client = harness.start(slots=2, claim_gather_seconds=0.2)
    long = await harness.submit("sleep 30")

    async def long_runs() -> bool:
        return bool((await harness.task(long))["status"] == "running")

    # Reported `running` once its process has run the start report delay (0.5 s).
    await until(long_runs, 60, "the long task to run")
    short = await harness.submit("true")
    (task,) = await harness.ended([short])
    assert task["status"] == "completed"
    assert (await harness.task(long))["status"] == "running"
    await sent(client, 1)
    assert client.carried == ["completed"]


async def test_a_retried_failure_reported_in_a_claim_may_come_back_in_that_claim(
    harness: Harness, no_linger: None
) -> None:
    """The claim that carries the failure may assign the task's next attempt to this same agent at once:
    the ended attempt's run must not drop the new one's, nor free its resources twice."""
    agent, client = harness.start(slots=1)
    task_id = await harness.submit("false", max_retries=2, retry_on=["exit_code"])
    (task,) = await harness.ended([task_id])
    assert task["status"] == "failed" and task["retry_count"] == 2, task
    await sent(client, 3)
    assert client.carried == ["failed"] * 3 and client.alone == []
    after = await harness.submit("true")
    assert (await harness.ended([after]))[0]["status"] == "completed"
    await until(lambda: not agent.running_task_ids, 30, "the agent to hold nothing")
    assert agent._resources.free_slots == 1


async def test_a_stop_delivers_the_final_reports_before_the_agent_exits(
    harness: Harness, no_linger: None
) -> None:
    agent, client = harness.start()
    task_ids = [await harness.submit("sleep 2") for _ in range(2)]
    await until(lambda: len(agent.running_task_ids) == 2, 60, "the agent to run both tasks")
    agent.request_stop()
    job = harness.agents[-1][1]
    await asyncio.wait_for(job, 60)
    job.result()
    tasks = [await harness.task(task_id) for task_id in task_ids]
    assert [task["status"] for task in tasks] == ["completed", "completed"]
    assert client.alone == ["completed", "completed"]  # no claim while stopping: each by itself


async def test_a_drained_agent_delivers_its_final_reports_and_exits(
    harness: Harness, no_linger: None
) -> None:
    agent, client = harness.start()
    task_id = await harness.submit("sleep 2")
    await until(lambda: agent.running_task_ids, 60, "the agent to run the task")
    worker_id = agent.worker_id
    drained = await harness.http.delete(
        f"/v1/scheduler/workers/{worker_id}", headers={"X-API-Key": harness.served.server.admin_key}
    )
    assert drained.status_code < 300, drained.text
    job = harness.agents[-1][1]
    await asyncio.wait_for(job, 60)
    job.result()
    assert (await harness.task(task_id))["status"] == "completed"
    assert client.alone == ["completed"]


@pytest.mark.parametrize("server", ["ignores", "refuses", "not asked"])
async def test_an_older_server_gets_the_reports_by_themselves(
    harness: Harness, no_linger: None, server: str
) -> None:
    """Also an agent told not to send reports with claims (`claim_reports=False`)."""
    agent, client = harness.start(server=server, claim_reports=server != "not asked")
    task_ids = [await harness.submit("true") for _ in range(3)]
    tasks = await harness.ended(task_ids)
    assert [task["status"] for task in tasks] == ["completed"] * 3
    assert client.alone == ["completed"] * 3
    assert client.carried == []
    assert agent._exchange is False
