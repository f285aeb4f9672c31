"""The worker agent against an in-process fake of the API's worker operations, running real processes.

The fake answers only with bodies the contract allows, and every exchange is checked against
``openapi.yaml``; the end-to-end tests against a real server are in tests/integration/test_execution.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from runplane.worker import client as api
from runplane.worker.agent import AgentFailed, AgentOptions, WorkerAgent
from runplane.worker.capabilities import MachineCapabilities
from tests.support.openapi import validate_exchange
from tests.support.snapshots import snapshot_archive
from tests.support.workers import assignment_body

pytestmark = [pytest.mark.unit, pytest.mark.anyio]

FAR = "2030-01-01T00:00:00Z"


def error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": message, "code": code, "trace_id": "t" * 8})


@dataclass
class FakeApi:
    """The worker operations, in memory. Tests steer it through its attributes."""

    queue: list[dict[str, Any]] = field(default_factory=list)
    snapshots: dict[str, bytes] = field(default_factory=dict)
    registrations: list[dict[str, Any]] = field(default_factory=list)
    claims: list[dict[str, Any]] = field(default_factory=list)
    claimed: list[list[str]] = field(default_factory=list)
    """The task ids each claim assigned, in order."""
    reports: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    logs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    log_batches: dict[str, int] = field(default_factory=dict)
    """How many log requests each task's lines took."""
    artifacts: dict[str, dict[str, bytes]] = field(default_factory=dict)
    heartbeats: list[list[str]] = field(default_factory=list)
    status: str = "active"
    cancel: set[str] = field(default_factory=set)
    heartbeat_error: httpx.Response | None = None
    lease_seconds: float = 30.0
    worker_ids: list[str] = field(default_factory=list)
    report_errors: dict[tuple[str, str], httpx.Response] = field(default_factory=dict)
    """(task id, status) → the answer to such a report (recorded all the same)."""

    def statuses(self, task_id: str) -> list[str]:
        return [report["status"] for report in self.reports.get(task_id, []) if "status" in report]

    def final(self, task_id: str) -> dict[str, Any] | None:
        done = [
            r
            for r in self.reports.get(task_id, [])
            if r.get("status") in ("completed", "failed", "cancelled")
        ]
        # Every report names the attempt it is about (checked on arrival); the rest is what is compared.
        return {k: v for k, v in done[-1].items() if k != "attempt"} if done else None

    async def handle(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        response = self._route(request)
        response.request = request
        await response.aread()
        validate_exchange(response)
        return response

    def _route(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")
        body = request.content
        if parts == ["v1", "workers"]:
            self.registrations.append(json.loads(body))
            worker_id = f"w{len(self.registrations)}"
            self.worker_ids.append(worker_id)
            return httpx.Response(
                201,
                json={
                    "worker_id": worker_id,
                    "lease_seconds": self.lease_seconds,
                    "heartbeat_seconds": 0.1,
                    "lease_expires_at": FAR,
                },
            )
        if parts[:2] == ["v1", "snapshots"]:
            data = self.snapshots.get(parts[2])
            if data is None:
                return error(404, "NOT_FOUND", "Snapshot not found")
            return httpx.Response(200, content=data, headers={"Content-Type": "application/gzip"})
        json_body: dict[str, Any] = (
            json.loads(body) if request.headers.get("content-type") == "application/json" else {}
        )
        worker_id = parts[2]
        if worker_id != self.worker_ids[-1]:
            return error(409, "CONFLICT", "This worker's lease has ended")
        if parts[3] == "heartbeat":
            self.heartbeats.append(json_body["running_task_ids"])
            if self.heartbeat_error is not None:
                return self.heartbeat_error
            cancel = sorted(self.cancel & set(json_body["running_task_ids"]))
            return httpx.Response(
                200, json={"status": self.status, "lease_expires_at": FAR, "cancel_task_ids": cancel}
            )
        if parts[3] == "claim":
            self.claims.append(json_body)
            # As the server does: up to max_tasks that fit together; the list only when max_tasks is named.
            cpu, slots = json_body["free_cpu"], json_body["free_slots"]
            taken: list[dict[str, Any]] = []
            for task in list(self.queue) if self.status == "active" else []:
                if len(taken) < json_body.get("max_tasks", 1) and task["cpu"] <= cpu and slots > 0:
                    self.queue.remove(task)
                    taken.append(task)
                    cpu, slots = cpu - task["cpu"], slots - 1
            self.claimed.append([task["task_id"] for task in taken])
            answer: dict[str, Any] = {"assignment": taken[0]} if taken else {}  # nothing: no assignment
            if "max_tasks" in json_body:
                answer["assignments"] = taken
            return httpx.Response(200, json=answer)
        task_id, what = parts[4], parts[5]
        if what == "report":
            assert json_body.get("attempt") == 1, json_body
            self.reports.setdefault(task_id, []).append(json_body)
            refused = self.report_errors.get((task_id, json_body.get("status") or ""))
            if refused is not None:
                return refused
            status = json_body.get("status") or "running"
            progress = max([r.get("progress", 0) for r in self.reports[task_id]])
            return httpx.Response(
                200, json={"status": status, "progress": progress, "cancel_requested": task_id in self.cancel}
            )
        if what == "logs":
            stored = self.logs.setdefault(task_id, [])
            self.log_batches[task_id] = self.log_batches.get(task_id, 0) + 1
            # As the server does: a batch starts where the stored lines end, or repeats some of them.
            assert json_body["attempt"] == 1 and json_body["first_line"] <= len(stored), json_body
            new = json_body["lines"][len(stored) - json_body["first_line"] :]
            stored.extend((line["stream"], line["text"]) for line in new)
            return httpx.Response(204)
        if what == "artifacts":
            path, sha = request.url.params["path"], request.url.params["sha256"]
            if hashlib.sha256(body).hexdigest() != sha:
                return error(400, "BAD_REQUEST", "sha256 mismatch")
            self.artifacts.setdefault(task_id, {})[path] = body
            return httpx.Response(
                201,
                json={
                    "path": path,
                    "size": len(body),
                    "sha256": sha,
                    "content_type": "application/octet-stream",
                    "created_at": FAR,
                },
            )
        return error(404, "NOT_FOUND", "no such route")


@dataclass
class Running:
    agent: WorkerAgent
    job: asyncio.Task[None]
    work_dir: Path


@pytest.fixture
def fake() -> FakeApi:
    return FakeApi()


@pytest.fixture
async def start(fake: FakeApi, tmp_path: Path) -> AsyncIterator[Callable[..., Running]]:
    started: list[Running] = []

    def launch(**options: Any) -> Running:
        client = api.WorkerClient(
            "http://fake", "rp_worker", transport=httpx.MockTransport(fake.handle), timeout_seconds=5
        )
        values: dict[str, Any] = {
            "api_url": "http://fake",
            "api_key": "rp_worker",
            "name": "w-test",
            "work_dir": tmp_path / "work",
            "poll_seconds": 0.05,
            "progress_interval_seconds": 0.05,
            "log_flush_seconds": 0.05,
            "kill_grace_seconds": 1.0,
            "grace_seconds": 5.0,
            # `running` at once, as before issue 11, unless a test says otherwise: whether a short task's
            # process ends within a delay depends on the machine's load, and a test must not.
            "start_report_delay_seconds": 0.0,
            **options,
        }
        agent = WorkerAgent(
            AgentOptions(**values),
            machine=MachineCapabilities(cpu_cores=2, memory_gb=4, gpus=[]),
            client=client,
        )
        running = Running(agent, asyncio.ensure_future(agent.run()), values["work_dir"])
        started.append(running)
        return running

    yield launch
    for running in started:
        if not running.job.done():
            running.agent.request_stop()
            running.agent.request_stop()
        await asyncio.wait([running.job], timeout=20)
        if not running.job.cancelled() and running.job.exception() is None:
            running.job.result()


async def until(condition: Callable[[], Any], within: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = condition()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


TRAIN = """
    import os, pathlib, time
    from runplane.task import progress
    out = pathlib.Path(os.environ["RUNPLANE_OUTPUT_DIR"])
    print("token is", os.environ["TOKEN"], flush=True)
    for step in range(1, 5):
        progress(step * 25, f"step {step}")
        time.sleep(0.05)
    (out / "plots").mkdir()
    (out / "plots" / "loss.txt").write_text("0.5\\n0.25\\n")
    (out / "results.json").write_text('{"summary": {"loss": 0.25}, "rows": [{"step": 1}]}')
    import sys; print("to stderr", file=sys.stderr)
"""


async def test_a_task_runs_from_snapshot_to_completed(fake: FakeApi, start: Callable[..., Running]) -> None:
    fake.snapshots["s1"] = snapshot_archive({"train.py": TRAIN}, mode=0o755)
    fake.queue.append(
        assignment_body("t1", snapshot_id="s1", secrets={"TOKEN": "hunter2-xyz"}, env={"MODE": "x"})
    )
    running = start()
    await until(lambda: fake.final("t1"))
    # The claim made it `preparing`: the agent reports `running`, `collecting` (it has outputs), the end.
    assert fake.statuses("t1") == ["running", "collecting", "completed"]
    # The end report says how it ended (the server words it "Completed"), not the last progress text.
    assert fake.final("t1") == {"status": "completed", "progress": 100.0}
    progress = [r["progress"] for r in fake.reports["t1"] if "progress" in r]
    assert progress == sorted(progress) and progress[-1] == 100.0 and len(progress) >= 2
    logs = fake.logs["t1"]
    assert ("stdout", "token is ***") in logs
    assert ("stderr", "to stderr") in logs
    assert ("stdout", "::progress 100 step 4") in logs
    assert not any("hunter2" in text for _, text in logs)
    assert fake.artifacts["t1"]["plots/loss.txt"] == b"0.5\n0.25\n"
    assert set(fake.artifacts["t1"]) == {"plots/loss.txt", "results.json"}
    # Registered with the machine's capabilities, asked with what is free.
    assert fake.registrations[0]["capabilities"] == {"cpu_cores": 2, "memory_gb": 4.0, "gpus": []}
    # Idle, it long-polls for as many tasks as it has slots, offering a free port for a gang's rank 0.
    port = fake.claims[0].pop("master_port")
    assert 1024 <= port <= 65535
    assert fake.claims[0] == {
        "free_slots": 2,
        "free_cpu": 2,
        "free_memory_gb": 4.0,
        "free_gpus": 0,
        "max_tasks": 2,
        "wait_seconds": 5.0,
    }
    await until(lambda: not (running.work_dir / "t1-1").exists())


# Long enough that a short task's process always ends within it, however loaded the machine.
FOLD_ALL = 30.0


async def test_a_short_task_costs_one_report_and_at_most_one_log_request(
    fake: FakeApi, start: Callable[..., Running]
) -> None:
    """Issue 11: no `preparing` report (the claim made it so), no `collecting` without outputs, no
    `running` for a process that ended within the delay (its end says how long it ran), no progress
    report before the start is told (the end carries the last), and the last lines of a short task go
    out in one batch before its end is reported."""
    fake.queue += [
        assignment_body("noop", entrypoint="true"),
        assignment_body(
            "chatty",
            entrypoint="/bin/sh -c 'for i in 1 2 3 4 5; do echo line $i; echo ::progress $((i * 20)); done'",
        ),
    ]
    start(start_report_delay_seconds=FOLD_ALL)
    await until(lambda: fake.final("noop") and fake.final("chatty"))
    for task_id in ("noop", "chatty"):
        [end] = fake.reports[task_id]
        assert end["status"] == "completed" and end["progress"] == 100.0, fake.reports
        assert 0 <= end["run_seconds"] < FOLD_ALL
    assert "noop" not in fake.log_batches and "noop" not in fake.logs
    assert fake.log_batches["chatty"] == 1
    assert fake.logs["chatty"][:2] == [("stdout", "line 1"), ("stdout", "::progress 20")]


async def test_a_task_longer_than_the_delay_reports_running_then_its_end(
    fake: FakeApi, start: Callable[..., Running], tmp_path: Path
) -> None:
    """`running` once the process has run the delay, with how long it had run (its start is dated
    exactly); then progress flows as before, and the end carries no run_seconds."""
    go = tmp_path / "go"
    script = f"import os, time\nprint('::progress 10 waiting', flush=True)\nwhile not os.path.exists({str(go)!r}): time.sleep(0.02)\n"
    fake.snapshots["s"] = snapshot_archive({"wait.py": script}, mode=0o755)
    fake.queue.append(assignment_body("long", snapshot_id="s", entrypoint="python wait.py"))
    delay = 0.3
    start(start_report_delay_seconds=delay)
    await until(lambda: fake.statuses("long") == ["running"])
    running = fake.reports["long"][0]
    assert running["message"] == "running" and running["run_seconds"] >= delay
    await until(lambda: any(r.get("progress") == 10 for r in fake.reports["long"]))
    go.write_text("")
    await until(lambda: fake.final("long"))
    assert fake.statuses("long") == ["running", "completed"]
    assert not any("run_seconds" in r for r in fake.reports["long"][1:])


async def test_with_no_delay_running_is_reported_before_the_process_starts(
    fake: FakeApi, start: Callable[..., Running]
) -> None:
    fake.queue.append(assignment_body("noop", entrypoint="true"))
    start(start_report_delay_seconds=0)
    await until(lambda: fake.final("noop"))
    assert fake.statuses("noop") == ["running", "completed"]
    assert not any("run_seconds" in r for r in fake.reports["noop"])


async def test_ends_within_the_delay_fold_running_in_whatever_they_are(
    fake: FakeApi, start: Callable[..., Running], tmp_path: Path
) -> None:
    """A failure, a timeout and a cancel within the delay are each one report (with run_seconds); a task
    with outputs reports `collecting` with it, then its end. A cancel reaches the process during the
    delay (a heartbeat), and the timeout still bounds it."""
    pid_file = tmp_path / "pid"
    fake.snapshots["s"] = snapshot_archive({"sleep.py": PID_WRITER}, mode=0o755)
    fake.queue += [
        assignment_body("exit", entrypoint="/bin/sh -c 'echo out; exit 3'"),
        assignment_body("timeout", entrypoint="sleep 60", timeout_seconds=1),
        assignment_body("cancel", snapshot_id="s", entrypoint="sleep.py", args=[str(pid_file)]),
        assignment_body("outputs", entrypoint="/bin/sh -c 'echo 1 > \"$RUNPLANE_OUTPUT_DIR/a.txt\"'"),
    ]
    start(start_report_delay_seconds=FOLD_ALL, slots=4)
    await until(lambda: pid_file.exists() and pid_file.read_text())
    fake.cancel.add("cancel")
    await until(lambda: all(fake.final(t) for t in ("exit", "timeout", "cancel", "outputs")), within=30)
    assert fake.statuses("exit") == ["failed"]
    assert fake.final("exit")["failure_reason"] == "exit_code"  # type: ignore[index]
    assert fake.statuses("timeout") == ["failed"]
    assert fake.final("timeout")["failure_reason"] == "timeout"  # type: ignore[index]
    assert fake.statuses("cancel") == ["cancelled"]
    assert group_gone(int(pid_file.read_text().split()[1]))
    for task_id in ("exit", "timeout", "cancel"):
        assert "run_seconds" in fake.reports[task_id][-1], fake.reports[task_id]
    assert fake.statuses("outputs") == ["collecting", "completed"]
    assert ["run_seconds" in r for r in fake.reports["outputs"]] == [True, False]
    assert fake.artifacts["outputs"]["a.txt"] == b"1\n"


async def test_a_refused_running_report_stops_the_process_and_says_nothing_more(
    fake: FakeApi, start: Callable[..., Running], tmp_path: Path
) -> None:
    """The task was given away while its process ran within the delay: the `running` report's 409 stops
    the process group, and nothing more is reported."""
    pid_file = tmp_path / "pid"
    fake.snapshots["s"] = snapshot_archive({"sleep.py": PID_WRITER}, mode=0o755)
    fake.queue.append(assignment_body("gone", snapshot_id="s", entrypoint="sleep.py", args=[str(pid_file)]))
    fake.report_errors[("gone", "running")] = error(
        409, "CONFLICT", "This task is not assigned to this worker"
    )
    start(start_report_delay_seconds=0.2)
    await until(lambda: fake.statuses("gone") == ["running"])
    # The work directory goes once the task's run is over, which waits for its process to end.
    await until(lambda: not (tmp_path / "work" / "gone-1").exists())
    if pid_file.exists() and pid_file.read_text():  # it may have been stopped before it wrote it
        assert group_gone(int(pid_file.read_text().split()[1]))
    assert fake.statuses("gone") == ["running"]


async def test_failures_carry_their_reasons(fake: FakeApi, start: Callable[..., Running]) -> None:
    fake.snapshots["bad"] = b"not a tarball"
    fake.queue += [
        assignment_body("exit", entrypoint="/bin/sh -c 'echo out; exit 3'"),
        assignment_body("timeout", entrypoint="sleep 30", timeout_seconds=1),
        assignment_body("nosnap", snapshot_id="missing"),
        assignment_body("badsnap", snapshot_id="bad"),
        assignment_body(
            "dataset", dataset_specs=[{"name": "d", "source": "/nonexistent/file", "sha256": "0" * 64}]
        ),
        assignment_body(
            "oom",
            entrypoint="python -c 'b = bytearray(400 * 2**20); import time; time.sleep(10)'",
            memory_gb=0.0625,
        ),
    ]
    start()
    ids = ("exit", "timeout", "nosnap", "badsnap", "dataset", "oom")
    await until(lambda: all(fake.final(task_id) for task_id in ids), within=30)
    assert fake.final("exit") == {
        "status": "failed",
        "progress": 0.0,
        "failure_reason": "exit_code",
        "exit_code": 3,
        "message": "exited with code 3",
    }
    # No outputs: no `collecting` between running and the end.
    assert fake.statuses("exit") == ["running", "failed"]
    assert fake.final("timeout")["failure_reason"] == "timeout"  # type: ignore[index]
    assert fake.final("oom")["failure_reason"] == "out_of_memory"  # type: ignore[index]
    for task_id in ("nosnap", "badsnap"):
        assert fake.final(task_id)["failure_reason"] == "snapshot_invalid"  # type: ignore[index]
        assert fake.statuses(task_id) == ["failed"]
    assert fake.final("dataset")["failure_reason"] == "dataset_invalid"  # type: ignore[index]


async def test_a_missing_script_fails_before_running_whether_in_the_entrypoint_or_the_args(
    fake: FakeApi, start: Callable[..., Running]
) -> None:
    fake.queue += [
        assignment_body("in-entrypoint", entrypoint="python missing.py"),
        assignment_body("in-args", entrypoint="python", args=["missing.py"]),
        assignment_body("after-options", entrypoint="python -u", args=["./missing.py", "--epochs", "3"]),
        assignment_body("shell", entrypoint="bash", args=["missing.sh"]),
    ]
    start()
    scripts = {"in-entrypoint": "missing.py", "in-args": "missing.py", "after-options": "missing.py"}
    scripts["shell"] = "missing.sh"
    await until(lambda: all(fake.final(task_id) for task_id in scripts), within=30)
    for task_id, script in scripts.items():
        final = fake.final(task_id)
        assert final is not None and final["failure_reason"] == "entrypoint_not_found", (task_id, final)
        assert final["message"] == f"the entrypoint script {script!r} is not in the task's code"
        assert fake.statuses(task_id) == ["failed"]  # it never ran (the claim made it preparing)


PID_WRITER = """
    import os, pathlib, sys, time
    pathlib.Path(sys.argv[1]).write_text(f"{os.getpid()} {os.getpgid(0)}")
    print("started", flush=True)
    time.sleep(60)
"""


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_cancel_from_a_heartbeat_kills_the_group_and_reports_cancelled(
    fake: FakeApi, start: Callable[..., Running], tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    fake.snapshots["s"] = snapshot_archive({"sleep.py": PID_WRITER}, mode=0o755)
    fake.queue.append(assignment_body("c1", snapshot_id="s", entrypoint="sleep.py", args=[str(pid_file)]))
    start()
    await until(lambda: pid_file.exists() and pid_file.read_text())
    pgid = int(pid_file.read_text().split()[1])
    assert not group_gone(pgid)
    fake.cancel.add("c1")
    await until(lambda: fake.final("c1"))
    assert fake.final("c1") == {"status": "cancelled", "message": "cancelled"}
    assert group_gone(pgid)
    # No artifacts for a cancelled task.
    assert "c1" not in fake.artifacts


async def test_drain_finishes_running_work_takes_nothing_new_and_exits(
    fake: FakeApi, start: Callable[..., Running]
) -> None:
    fake.queue.append(assignment_body("d1", entrypoint="/bin/sh -c 'sleep 0.6; echo done'"))
    running = start()
    await until(lambda: fake.statuses("d1")[-1:] == ["running"])
    fake.status = "draining"
    fake.queue.append(assignment_body("d2", entrypoint="true"))
    await asyncio.wait_for(running.job, 15)
    assert fake.final("d1")["status"] == "completed"  # type: ignore[index]
    assert "d2" not in fake.reports


async def test_an_ended_lease_stops_tasks_silently_and_registers_again(
    fake: FakeApi, start: Callable[..., Running], tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    fake.snapshots["s"] = snapshot_archive({"sleep.py": PID_WRITER}, mode=0o755)
    fake.queue.append(assignment_body("l1", snapshot_id="s", entrypoint="sleep.py", args=[str(pid_file)]))
    start()
    await until(lambda: pid_file.exists() and pid_file.read_text())
    pgid = int(pid_file.read_text().split()[1])
    fake.heartbeat_error = error(409, "CONFLICT", "This worker's lease has ended")
    await until(lambda: len(fake.registrations) == 2)
    fake.heartbeat_error = None
    await until(lambda: group_gone(pgid))
    assert fake.final("l1") is None  # the server gave the task away: nothing is reported
    fake.queue.append(assignment_body("l2", entrypoint="true"))
    await until(lambda: fake.final("l2"))
    assert fake.final("l2")["status"] == "completed"  # type: ignore[index]


async def test_stop_gives_running_tasks_their_grace_then_leaves_them_to_the_lease(
    fake: FakeApi, start: Callable[..., Running], tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    fake.snapshots["s"] = snapshot_archive({"sleep.py": PID_WRITER}, mode=0o755)
    fake.queue += [assignment_body("g1", snapshot_id="s", entrypoint="sleep.py", args=[str(pid_file)])]
    running = start(grace_seconds=0.3)
    await until(lambda: pid_file.exists() and pid_file.read_text())
    pgid = int(pid_file.read_text().split()[1])
    running.agent.request_stop()
    await asyncio.wait_for(running.job, 15)
    assert group_gone(pgid)
    assert fake.final("g1") is None


async def test_a_revoked_key_stops_the_agent_and_its_tasks(
    fake: FakeApi, start: Callable[..., Running], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pid_file = tmp_path / "pid"
    fake.snapshots["s"] = snapshot_archive({"sleep.py": PID_WRITER}, mode=0o755)
    fake.queue.append(assignment_body("r1", snapshot_id="s", entrypoint="sleep.py", args=[str(pid_file)]))
    running = start()
    await until(lambda: pid_file.exists() and pid_file.read_text())
    pgid = int(pid_file.read_text().split()[1])
    fake.heartbeat_error = error(401, "UNAUTHORIZED", "Invalid or missing API key")
    with caplog.at_level(logging.ERROR, logger="runplane.worker"), pytest.raises(AgentFailed, match="401"):
        await asyncio.wait_for(running.job, 15)
    assert group_gone(pgid)
    # An expected stop: one line naming why, no traceback.
    refused = [r for r in caplog.records if "refused this worker's key" in r.getMessage()]
    assert refused and "revoked or invalid" in refused[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info or "crashed" in r.getMessage()]


async def test_slots_bound_what_runs_at_once(
    fake: FakeApi, start: Callable[..., Running], tmp_path: Path
) -> None:
    # Never two running at once: a task that finds another's lock held fails (exit 9).
    lock = tmp_path / "one-at-a-time"
    command = f"/bin/sh -c 'mkdir {lock} || exit 9; sleep 0.3; rmdir {lock}'"
    fake.queue += [assignment_body(f"s{i}", entrypoint=command) for i in range(3)]
    start(slots=1)
    await until(lambda: all(fake.final(f"s{i}") for i in range(3)), within=20)
    assert [(fake.final(f"s{i}") or {}).get("status") for i in range(3)] == ["completed"] * 3
    assert all(claim["free_slots"] == 1 for claim in fake.claims)
    # A task whose process ended is held (heartbeats) until its end report's outcome is known, while
    # its slot already runs the next one: at most one of each.
    assert max(len(ids) for ids in fake.heartbeats) <= 2


async def test_one_claim_takes_work_for_every_free_slot_and_starts_it_all(
    fake: FakeApi, start: Callable[..., Running]
) -> None:
    fake.queue += [assignment_body(f"m{i}", entrypoint="/bin/sh -c 'sleep 0.5'") for i in range(2)]
    start(slots=2)
    await until(lambda: all(fake.final(f"m{i}") for i in range(2)), within=20)
    assert fake.claimed[0] == ["m0", "m1"]
    assert fake.claims[0]["max_tasks"] == 2
    assert max(len(ids) for ids in fake.heartbeats) == 2  # both ran side by side
    assert [fake.final(f"m{i}") for i in range(2)] == [{"status": "completed", "progress": 100.0}] * 2


async def test_a_task_needing_gpus_this_worker_lacks_fails_at_once(
    fake: FakeApi, start: Callable[..., Running]
) -> None:
    fake.queue.append(assignment_body("gpu", gpu=1))
    start()
    await until(lambda: fake.final("gpu"))
    assert fake.statuses("gpu") == ["failed"]
    assert fake.final("gpu")["failure_reason"] == "internal"  # type: ignore[index]


async def test_without_heartbeats_for_a_whole_lease_the_worker_stops_its_tasks(
    fake: FakeApi, start: Callable[..., Running], tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    fake.lease_seconds = 1.0
    fake.snapshots["s"] = snapshot_archive({"sleep.py": PID_WRITER}, mode=0o755)
    fake.queue.append(assignment_body("f1", snapshot_id="s", entrypoint="sleep.py", args=[str(pid_file)]))
    start()
    await until(lambda: pid_file.exists() and pid_file.read_text())
    pgid = int(pid_file.read_text().split()[1])
    # The API answers, but not the heartbeats: by the end of the lease the server has given the task away.
    fake.heartbeat_error = error(503, "SERVICE_UNAVAILABLE", "Database unavailable")
    await until(lambda: group_gone(pgid), within=10)
    assert fake.final("f1") is None
