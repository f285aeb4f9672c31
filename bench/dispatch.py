"""Dispatch: N no-op tasks (`true`) through real worker agents; tasks/s and submit→start latency.

    .venv/bin/python bench/dispatch.py                    # defaults: 200 tasks, 1x4 and 2x2, SQLite; ~1.5 min
    .venv/bin/python bench/dispatch.py --workers 1 --slots 8 --tasks 500
    .venv/bin/python bench/dispatch.py --postgres         # each layout on SQLite and on a fresh PostgreSQL db
    .venv/bin/python bench/dispatch.py --database-url postgresql://postgres@127.0.0.1/rp_bench
    .venv/bin/python bench/dispatch.py --worker-option=--claim-gather-seconds=0   # an agent option, A/B

For each layout (`--layout WxS`: W worker agents with S slots each; default 1x4 and 2x2) and each database,
everything is started fresh on 127.0.0.1, as the README runs it:

* the API: `runplane serve --workers 2` (gunicorn + uvicorn workers, migrations first) with a temporary
  data directory, RUNPLANE_ADMIN_KEY set, and the user and worker rate limits so high that they never
  refuse (they still count every request, as in production). Logs at INFO, to a file.
* W real worker agents: `python -m runplane.worker --api URL --slots S --cores S --memory-gb S`, each with
  its own worker key (made through `POST /v1/keys`, passed in RUNPLANE_WORKER_KEY). `--cores` and
  `--memory-gb` equal the slots, so that a task's default request (1 core, 1 GiB) never makes the slots
  wait on cores on a small machine: the slots are the only limit.

Two phases per layout, once the workers have registered:

* `burst`: `--tasks` tasks `{"job_name": "noop-<i>", "entrypoint": "true"}` submitted as fast as
  `--submitters` concurrent clients can (`POST /v1/tasks`), or with `--submit sweep` as one
  `POST /v1/sweeps` whose grid makes the `--tasks` tasks (the way a parameter sweep arrives: the server's
  per-task cost is then the dispatch path alone), then a bounded wait (`--timeout`) until every
  one has ended. From the API (`GET /v1/tasks` pages: `created_at`, `started_at`, `ended_at`): throughput
  (tasks / (last `ended_at` - first `created_at`)), submit→start latency p50/p90/p99/max (`started_at` -
  `created_at`; `started_at` is the worker's `running` report, so it includes the claim, the `preparing`
  report and the work directory), start→end p50 (the shim, `true`, `collecting`, `completed`) and failures
  (must be 0). Each task's own event stream (`/v1/scheduler/jobs/{id}/stream`, replayed once it has ended)
  splits submit→start into queued→claimed (the claim's `preparing` event) and claimed→running, and gives
  the slots' occupancy (time tasks held a slot / (slots x the run's span)) and the first claim's delay
  (first submission to first claim: the workers were idle until then, so it is their claim poll's wait).
  Also recorded: the CPU time of the server, of the workers (with their shims and tasks), of the
  PostgreSQL backends serving the run's database, of this client, and how busy all cores were (what
  else ran on the machine is the `other` share); from the server's own `/metrics`, how many requests of
  each worker operation the phase took and their mean server-side time.
* `idle`: `--idle-tasks` tasks one at a time, each submitted a random 0.1 to 1.1 s after the previous one
  was seen to end, so the workers sit idle in their claim loop: the submit→start latency of one task on
  an idle system (what a user waits for before their task runs), which the burst's backlog hides.

After each layout, with runplane stopped, the machine's own limit in the same run: a bare loop that
fork-execs `true` `--tasks` times, as many at once as the layout has slots (tasks/s, and CPU ms per process
of the loop and its children), printed beside runplane's burst figures as ratios.

Bounded: every wait has a deadline, a server or worker not ready within 60 s fails the run, and the exit
status is 1 when a task failed, did not finish in time, or a request failed. Loopback only. The figures
are printed as tables and written as JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import api_load
import httpx
import psutil
from api_load import (
    HOST,
    RATE_LIMIT,
    READY_TIMEOUT_S,
    RESULTS_DIR,
    Server,
    _spawn,
    clean_env,
    free_port,
    machine,
    runplane_command,
    stop_group,
    table,
)
from loadgen import percentile

DEFAULT_LAYOUTS = ("1x4", "2x2")
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TERMINAL = ("completed", "failed", "cancelled")
# The worker operations whose counts and server-side times are read from /metrics after each phase.
WORKER_OPERATIONS = (
    "claim_task",
    "report_task",
    "heartbeat_worker",
    "append_task_logs",
    "upload_task_artifact",
)
_DURATION_SAMPLE = re.compile(
    r'^runplane_http_request_duration_seconds_(sum|count)\{operation="([^"]+)"\}\s+(\S+)$', re.MULTILINE
)


# --- processes ----------------------------------------------------------------------------------------


@dataclass
class Worker:
    """One `runplane worker` agent, in its own session (its tasks' shims lead sessions of their own)."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def cpu_seconds(self) -> float:
        """User + system CPU of the agent and of its live descendants, each with every child it has
        reaped: the shims' fork server is a live child of the agent, and the shims (and through them the
        tasks' processes) are its children, not the agent's."""
        total = 0.0
        with contextlib.suppress(psutil.NoSuchProcess):
            agent = psutil.Process(self.process.pid)
            for process in [agent, *agent.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = process.cpu_times()
                    total += times.user + times.system + times.children_user + times.children_system
        return total

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        stop_group(self.process)


def server_cpu_seconds(server: Server) -> float:
    total = 0.0
    for process in server.processes():
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def start_server(data_dir: Path, *, server_workers: int, database_url: str | None, log_level: str) -> Server:
    admin_key = "rp_bench-admin-" + secrets.token_hex(16)
    env = clean_env(
        RUNPLANE_DATA_DIR=str(data_dir),
        RUNPLANE_ADMIN_KEY=admin_key,
        RUNPLANE_RATE_LIMIT=RATE_LIMIT,
        RUNPLANE_WORKER_RATE_LIMIT=RATE_LIMIT,
        RUNPLANE_LOG_LEVEL=log_level,
    )
    if database_url:
        env["RUNPLANE_DATABASE_URL"] = database_url
    port = free_port()
    command = [*runplane_command(), "serve", "--host", HOST, "--port", str(port)]
    server = _spawn("runplane", [*command, "--workers", str(server_workers)], env, data_dir, port)
    server.key = admin_key  # the admin key: this server's `key` is the one its setup calls use
    try:
        server.wait_ready("/readyz")
    except BaseException:
        server.stop()
        raise
    return server


def create_key(server: Server, name: str, role: str) -> str:
    answer = httpx.post(
        server.base_url + "/v1/keys",
        headers={"X-API-Key": server.key},
        json={"name": name, "role": role},
        timeout=30,
    )
    answer.raise_for_status()
    key: str = answer.json()["key"]
    return key


def start_worker(
    server: Server, key: str, name: str, slots: int, work_dir: Path, log_level: str, extra: list[str]
) -> Worker:
    command = [sys.executable, "-m", "runplane.worker", "--api", server.base_url, "--name", name]
    command += ["--slots", str(slots), "--cores", str(slots), "--memory-gb", str(slots)]
    command += ["--work-dir", str(work_dir), "--log-level", log_level, *extra]
    log_path = work_dir.with_suffix(".log")
    work_dir.mkdir(parents=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=work_dir,
            env=clean_env(RUNPLANE_WORKER_KEY=key),  # never on the command line
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Worker(name=name, process=process, log_path=log_path)


def wait_registered(server: Server, workers: list[Worker]) -> None:
    """Until every agent is an active worker of the server (or one exits, or the deadline passes)."""
    names = {worker.name for worker in workers}
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        for worker in workers:
            if worker.process.poll() is not None:
                raise RuntimeError(
                    f"worker {worker.name} exited with {worker.process.returncode}:\n{worker.log_tail()}"
                )
        answer = httpx.get(
            server.base_url + "/v1/scheduler/workers",
            headers={"X-API-Key": server.key},
            params={"status": "active", "limit": 1000},
            timeout=10,
        )
        answer.raise_for_status()
        if names <= {row["name"] for row in answer.json()["workers"]}:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers not registered in {READY_TIMEOUT_S}s:\n{workers[0].log_tail()}")
        time.sleep(0.1)


def database_name(url: str | None) -> str | None:
    """The PostgreSQL database a URL names (None for SQLite: its work is done inside the server)."""
    if not url or not url.startswith("postgres"):
        return None
    return url.rpartition("/")[2].split("?", 1)[0] or None


@contextlib.contextmanager
def fresh_postgres(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one run (dropped after); its URL."""
    import psycopg
    from psycopg import sql

    name = f"rp_dispatch_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{admin_url.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --- measuring ----------------------------------------------------------------------------------------


@dataclass
class CpuMark:
    """CPU counters at one moment: server, workers (with their children), this client, the machine."""

    at: float
    server_s: float
    workers_s: float
    client_s: float
    database_s: float
    busy_s: float
    total_s: float

    @classmethod
    def take(cls, server: Server, workers: list[Worker], database: str | None) -> CpuMark:
        machine_times = psutil.cpu_times()
        total = sum(machine_times)
        idle = machine_times.idle + getattr(machine_times, "iowait", 0.0)
        return cls(
            at=time.monotonic(),
            server_s=server_cpu_seconds(server),
            workers_s=sum(worker.cpu_seconds() for worker in workers),
            client_s=time.process_time(),
            database_s=database_cpu_seconds(database),
            busy_s=total - idle,
            total_s=total,
        )


def database_cpu_seconds(database: str | None) -> float:
    """CPU of the PostgreSQL backends serving `database` (none for SQLite, which runs in the server).

    A backend's command line names its database; one that ended between two marks is not counted, and one
    that started between them counts its whole life, but the server's pool keeps its connections open.
    """
    if not database:
        return 0.0
    total = 0.0
    for process in psutil.process_iter(["name", "cmdline"]):
        name = process.info["name"] or ""
        if name.startswith("postgres") and database in " ".join(process.info["cmdline"] or []).split():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
    return total


def operation_times(server: Server) -> dict[str, tuple[int, float]]:
    """Per operation: (requests answered, their summed server-side seconds), from /metrics."""
    answer = httpx.get(server.base_url + "/metrics", headers={"X-API-Key": server.key}, timeout=30)
    answer.raise_for_status()
    figures: dict[str, list[float]] = {}
    for kind, operation, value in _DURATION_SAMPLE.findall(answer.text):
        figures.setdefault(operation, [0.0, 0.0])[0 if kind == "count" else 1] += float(value)
    return {operation: (int(count), total) for operation, (count, total) in figures.items()}


def parse_ts(value: str | None) -> float | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def submit_all(
    http: httpx.AsyncClient, key: str, names: list[str], submitters: int
) -> tuple[list[str], list[str], float]:
    """Submits one task per name with `submitters` concurrent clients; (ids, errors, seconds taken)."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for name in names:
        queue.put_nowait(name)
    ids: list[str] = []
    errors: list[str] = []

    async def submitter() -> None:
        while not queue.empty():
            name = queue.get_nowait()
            try:
                answer = await http.post(
                    "/v1/tasks", headers={"X-API-Key": key}, json={"job_name": name, "entrypoint": "true"}
                )
            except httpx.HTTPError as exc:
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
            if answer.status_code != 201:
                errors.append(f"{name}: {answer.status_code} {answer.text[:200]}")
                continue
            ids.append(answer.json()["id"])

    started = time.monotonic()
    await asyncio.gather(*(submitter() for _ in range(submitters)))
    return ids, errors, time.monotonic() - started


async def submit_sweep(http: httpx.AsyncClient, key: str, tasks: int) -> tuple[list[str], list[str], float]:
    """Submits `tasks` no-op tasks as one sweep (a grid of one parameter); (the sweep's id once per task it
    created, errors, seconds taken), the shape of :func:`submit_all`'s answer."""
    # `true {i}`: the variation must be used somewhere, and `true` ignores its arguments.
    task = {"job_name": "noop", "entrypoint": "true", "args": ["{i}"]}
    body = {"task": task, "grid": {"i": list(range(tasks))}}
    started = time.monotonic()
    try:
        answer = await http.post("/v1/sweeps", headers={"X-API-Key": key}, json=body, timeout=120)
    except httpx.HTTPError as exc:
        return [], [f"sweep: {type(exc).__name__}: {exc}"], time.monotonic() - started
    took = time.monotonic() - started
    if answer.status_code != 201:
        return [], [f"sweep: {answer.status_code} {answer.text[:200]}"], took
    return [answer.json()["id"]] * tasks, [], took


async def count_ended(http: httpx.AsyncClient, key: str) -> int:
    total = 0
    for status in TERMINAL:
        answer = await http.get(
            "/v1/tasks", headers={"X-API-Key": key}, params={"status": status, "limit": 1}
        )
        answer.raise_for_status()
        total += int(answer.json()["total"])
    return total


async def wait_ended(
    http: httpx.AsyncClient, key: str, expected: int, deadline: float, *, every: float
) -> bool:
    """Polls the task counts until `expected` tasks have ended; False when the deadline passed first.

    Three small GETs per poll: a few requests a second, next to the workers' ~5 per task.
    """
    while True:
        if await count_ended(http, key) >= expected:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(every)


async def wait_task_ended(http: httpx.AsyncClient, key: str, task_id: str, deadline: float) -> bool:
    """Polls one task's status (a light GET, 5 a second) until it has ended; False at the deadline."""
    while True:
        answer = await http.get(f"/v1/tasks/{task_id}/status", headers={"X-API-Key": key})
        answer.raise_for_status()
        if answer.json()["status"] in TERMINAL:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)


async def all_tasks(http: httpx.AsyncClient, key: str) -> list[dict[str, Any]]:
    """Every task of the user behind `key`, page by page (newest first)."""
    rows: list[dict[str, Any]] = []
    while True:
        answer = await http.get(
            "/v1/tasks", headers={"X-API-Key": key}, params={"limit": 1000, "offset": len(rows)}
        )
        answer.raise_for_status()
        page = answer.json()
        rows.extend(page["tasks"])
        if not page["tasks"] or len(rows) >= page["total"]:
            return rows


async def claimed_at(http: httpx.AsyncClient, key: str, task_ids: list[str]) -> dict[str, float]:
    """When each (ended) task was claimed: the ts of its `preparing` task_update, from its event stream."""
    found: dict[str, float] = {}
    semaphore = asyncio.Semaphore(8)

    async def one(task_id: str) -> None:
        async with semaphore:
            answer = await http.get(f"/v1/scheduler/jobs/{task_id}/stream", headers={"X-API-Key": key})
        answer.raise_for_status()
        for line in answer.text.splitlines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            data = event.get("data") or {}
            if event.get("type") == "task_update" and data.get("status") == "preparing":
                ts = parse_ts(event["ts"])
                if ts is not None:
                    found[task_id] = ts
                return

    await asyncio.gather(*(one(task_id) for task_id in task_ids))
    return found


def spread(values: list[float]) -> dict[str, float]:
    """p50/p90/p99/max of `values` in milliseconds (NaN when empty)."""
    ordered = sorted(values)
    return {
        "p50_ms": round(percentile(ordered, 0.50) * 1e3, 1),
        "p90_ms": round(percentile(ordered, 0.90) * 1e3, 1),
        "p99_ms": round(percentile(ordered, 0.99) * 1e3, 1),
        "max_ms": round((ordered[-1] if ordered else float("nan")) * 1e3, 1),
    }


@dataclass
class Phase:
    """One phase's figures (times in ms unless named otherwise)."""

    name: str
    tasks: int
    submitted: int
    completed: int
    failed: int
    unfinished: int
    submit_errors: list[str]
    failures: list[str]
    submit_s: float
    span_s: float
    tasks_per_s: float
    submit_to_start: dict[str, float]
    start_to_end: dict[str, float]
    queued_to_claimed: dict[str, float]
    claimed_to_running: dict[str, float]
    slot_occupancy: float
    first_claim_ms: float
    cpu: dict[str, float] = field(default_factory=dict)
    operations: dict[str, dict[str, float]] = field(default_factory=dict)


def phase_figures(
    name: str,
    tasks: int,
    rows: list[dict[str, Any]],
    claims: dict[str, float],
    *,
    slots: int,
    submit_errors: list[str],
    submit_s: float,
) -> Phase:
    created = {row["id"]: parse_ts(row["created_at"]) for row in rows}
    started = {row["id"]: parse_ts(row["started_at"]) for row in rows}
    ended = {row["id"]: parse_ts(row["ended_at"]) for row in rows}
    done = [row for row in rows if row["status"] == "completed"]
    failed = [row for row in rows if row["status"] in ("failed", "cancelled")]
    first_created = min((value for value in created.values() if value is not None), default=None)
    last_ended = max((value for value in ended.values() if value is not None), default=None)
    span = (last_ended - first_created) if first_created is not None and last_ended is not None else 0.0

    def gaps(a: dict[str, float | None], b: dict[str, float | None]) -> list[float]:
        return [
            b_value - a_value
            for task_id, a_value in a.items()
            if a_value is not None and (b_value := b.get(task_id)) is not None
        ]

    claimed: dict[str, float | None] = dict(claims)
    held = sum(gaps(claimed, ended))  # seconds tasks held a slot: claim to end
    return Phase(
        name=name,
        tasks=tasks,
        submitted=len(rows),
        completed=len(done),
        failed=len(failed),
        unfinished=tasks - len(done) - len(failed),
        submit_errors=submit_errors[:10],
        failures=[f"{row['id']}: {row['status']} {row.get('failure')}" for row in failed[:10]],
        submit_s=round(submit_s, 3),
        span_s=round(span, 3),
        tasks_per_s=round(len(done) / span, 2) if span > 0 else 0.0,
        submit_to_start=spread(gaps(created, started)),
        start_to_end=spread(gaps(started, ended)),
        queued_to_claimed=spread(gaps(created, claimed)),
        claimed_to_running=spread(gaps(claimed, started)),
        slot_occupancy=round(held / (span * slots), 3) if span > 0 else 0.0,
        # From the first submission to the first claim: the workers were idle, so this is their poll wait.
        first_claim_ms=round((min(claims.values()) - first_created) * 1e3, 1)
        if claims and first_created is not None
        else float("nan"),
    )


def cpu_figures(before: CpuMark, after: CpuMark, tasks: int, cores: int) -> dict[str, float]:
    wall = after.at - before.at
    per_task = 1e3 / tasks if tasks else float("nan")
    total = after.total_s - before.total_s
    ours = (
        (after.server_s - before.server_s)
        + (after.workers_s - before.workers_s)
        + (after.client_s - before.client_s)
        + (after.database_s - before.database_s)
    )
    return {
        "wall_s": round(wall, 2),
        "server_ms_per_task": round((after.server_s - before.server_s) * per_task, 1),
        "workers_ms_per_task": round((after.workers_s - before.workers_s) * per_task, 1),
        "client_ms_per_task": round((after.client_s - before.client_s) * per_task, 1),
        "database_ms_per_task": round((after.database_s - before.database_s) * per_task, 1),
        "machine_busy": round((after.busy_s - before.busy_s) / total, 3) if total > 0 else 0.0,
        # Busy time of anything but this server, its workers (and their tasks), its database and this client.
        "other_busy": round(max(0.0, after.busy_s - before.busy_s - ours) / total, 3) if total > 0 else 0.0,
        "cores": cores,
    }


def operation_figures(
    before: dict[str, tuple[int, float]], after: dict[str, tuple[int, float]], tasks: int
) -> dict[str, dict[str, float]]:
    figures = {}
    for operation in WORKER_OPERATIONS:
        count = after.get(operation, (0, 0.0))[0] - before.get(operation, (0, 0.0))[0]
        seconds = after.get(operation, (0, 0.0))[1] - before.get(operation, (0, 0.0))[1]
        if count:
            figures[operation] = {
                "requests": count,
                "per_task": round(count / tasks, 2) if tasks else 0.0,
                "mean_ms": round(seconds / count * 1e3, 2),
            }
    return figures


@dataclass
class Rig:
    """What one layout runs on: the API, its worker agents, the PostgreSQL database's name (if any)."""

    server: Server
    workers: list[Worker]
    database: str | None
    slots_per_worker: int

    @property
    def slots(self) -> int:
        return self.slots_per_worker * len(self.workers)

    def mark(self) -> CpuMark:
        return CpuMark.take(self.server, self.workers, self.database)


async def burst(rig: Rig, key: str, args: argparse.Namespace) -> Phase:
    server = rig.server
    cores = psutil.cpu_count() or 1
    ops_before = await asyncio.to_thread(operation_times, server)
    limits = httpx.Limits(max_connections=args.submitters + 4)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=limits) as http:
        mark = rig.mark()
        if args.submit == "sweep":
            ids, errors, submit_s = await submit_sweep(http, key, args.tasks)
        else:
            names = [f"noop-{index}" for index in range(args.tasks)]
            ids, errors, submit_s = await submit_all(http, key, names, args.submitters)
        finished = await wait_ended(http, key, len(ids), time.monotonic() + args.timeout, every=0.5)
        after = rig.mark()
        if not finished:
            print(f"  burst: not every task ended within {args.timeout:g}s", flush=True)
        rows = await all_tasks(http, key)
        claims = await claimed_at(http, key, [row["id"] for row in rows if row["status"] in TERMINAL])
    ops_after = await asyncio.to_thread(operation_times, server)
    phase = phase_figures(
        "burst", args.tasks, rows, claims, slots=rig.slots, submit_errors=errors, submit_s=submit_s
    )
    phase.cpu = cpu_figures(mark, after, args.tasks, cores)
    phase.operations = operation_figures(ops_before, ops_after, args.tasks)
    return phase


async def idle(rig: Rig, key: str, args: argparse.Namespace) -> Phase:
    server = rig.server
    cores = psutil.cpu_count() or 1
    chance = random.Random(args.seed)
    ops_before = await asyncio.to_thread(operation_times, server)
    errors: list[str] = []
    ids: list[str] = []
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        mark = rig.mark()
        deadline = time.monotonic() + args.timeout
        for index in range(args.idle_tasks):
            await asyncio.sleep(chance.uniform(0.1, 1.1))
            new, failed, _ = await submit_all(http, key, [f"idle-{index}"], 1)
            ids += new
            errors += failed
            if new and not await wait_task_ended(http, key, new[0], deadline):
                print(f"  idle: not every task ended within {args.timeout:g}s", flush=True)
                break
        after = rig.mark()
        rows = [row for row in await all_tasks(http, key) if row["id"] in set(ids)]
        claims = await claimed_at(http, key, [row["id"] for row in rows if row["status"] in TERMINAL])
    ops_after = await asyncio.to_thread(operation_times, server)
    phase = phase_figures(
        "idle", args.idle_tasks, rows, claims, slots=rig.slots, submit_errors=errors, submit_s=0.0
    )
    phase.cpu = cpu_figures(mark, after, args.idle_tasks, cores)
    phase.operations = operation_figures(ops_before, ops_after, args.idle_tasks)
    return phase


@dataclass
class Baseline:
    """The machine's own limit: a bare loop fork-exec'ing `true`, as many at once as the layout's slots."""

    parallelism: int
    processes: int
    tasks_per_s: float
    cpu_ms_per_process: float
    """CPU of this loop and its children (user + system) per `true`."""


def fork_exec_baseline(parallelism: int, processes: int) -> Baseline:
    """Starts `processes` `true`s, keeping `parallelism` running at once; what that costs the machine."""
    true = shutil.which("true") or "/bin/true"
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = time.process_time()
    started = time.perf_counter()
    running: list[subprocess.Popen[bytes]] = []
    launched = 0
    while launched < processes or running:
        while launched < processes and len(running) < parallelism:
            running.append(subprocess.Popen([true]))
            launched += 1
        running[0].wait()
        running = [child for child in running if child.poll() is None]
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    cpu += time.process_time() - own
    return Baseline(
        parallelism=parallelism,
        processes=processes,
        tasks_per_s=round(processes / wall, 1) if wall > 0 else 0.0,
        cpu_ms_per_process=round(cpu * 1000 / processes, 2),
    )


@dataclass
class Run:
    layout: str
    workers: int
    slots: int
    database: str
    phases: list[Phase]
    startup_s: float
    baseline: Baseline | None = None


def run_layout(
    layout: str, database: str, database_url: str | None, root: Path, args: argparse.Namespace
) -> Run:
    count, slots = (int(part) for part in layout.split("x"))
    label = f"{layout}-{database}"
    data_dir = root / label
    data_dir.mkdir(parents=True)
    started = time.monotonic()
    server = start_server(
        data_dir, server_workers=args.server_workers, database_url=database_url, log_level=args.log_level
    )
    workers: list[Worker] = []
    try:
        suffix = secrets.token_hex(3)  # a reused database keeps the keys and workers of earlier runs
        user_key = create_key(server, f"dispatch-{suffix}", "user")
        for index in range(count):
            name = f"dispatch-{suffix}-w{index}"
            worker_key = create_key(server, name, "worker")
            workers.append(
                start_worker(
                    server,
                    worker_key,
                    name,
                    slots,
                    data_dir / f"worker-{index}",
                    args.log_level,
                    args.worker_option,
                )
            )
        wait_registered(server, workers)
        startup = time.monotonic() - started
        # Let every agent's claim loop reach its steady idle state (an empty claim, then its poll wait).
        time.sleep(1.5)
        rig = Rig(server, workers, database_name(database_url), slots_per_worker=slots)
        phases = [asyncio.run(burst(rig, user_key, args))]
        print(f"  {label}: burst done ({phases[0].completed}/{args.tasks} completed)", flush=True)
        if args.idle_tasks:
            idle_key = create_key(server, f"dispatch-{suffix}-idle", "user")
            phases.append(asyncio.run(idle(rig, idle_key, args)))
        for worker in workers:
            if worker.process.poll() is not None:
                raise RuntimeError(f"worker {worker.name} died during the run:\n{worker.log_tail()}")
    finally:
        for worker in workers:
            worker.stop()
        server.stop()
    return Run(
        layout=layout,
        workers=count,
        slots=slots,
        database=database,
        phases=phases,
        startup_s=round(startup, 1),
        # Measured in the same run, with nothing of runplane's left running.
        baseline=fork_exec_baseline(count * slots, args.tasks),
    )


# --- reporting ----------------------------------------------------------------------------------------


def ms(figures: dict[str, float], key: str) -> str:
    return f"{figures[key]:.0f}"


def report(runs: list[Run]) -> None:
    print(
        "\nburst: submit→start and start→end in ms; tasks/s = completed / (last ended_at - first created_at)"
    )
    header = ["layout", "db", "tasks", "failed", "tasks/s", "submit s", "span s"]
    header += [
        "submit→start p50",
        "p90",
        "p99",
        "max",
        "start→end p50",
        "queued→claimed p50",
        "claimed→running p50",
    ]
    rows = []
    for run in runs:
        phase = run.phases[0]
        rows.append(
            [
                run.layout,
                run.database,
                f"{phase.completed}/{phase.tasks}",
                str(phase.failed + phase.unfinished + len(phase.submit_errors)),
                f"{phase.tasks_per_s:.1f}",
                f"{phase.submit_s:.1f}",
                f"{phase.span_s:.1f}",
                *(ms(phase.submit_to_start, key) for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms")),
                ms(phase.start_to_end, "p50_ms"),
                ms(phase.queued_to_claimed, "p50_ms"),
                ms(phase.claimed_to_running, "p50_ms"),
            ]
        )
    print(table(header, rows))

    print("\nburst beside the machine's limit: a bare loop fork-exec'ing `true` with the same parallelism")
    header = ["layout", "db", "tasks/s", "runplane CPU ms/task", "fork-exec tasks/s", "fork-exec CPU ms/proc"]
    header += ["tasks/s ratio", "CPU ratio"]
    rows = []
    for run in runs:
        phase, base = run.phases[0], run.baseline
        if base is None:
            continue
        cpu_ms = sum(phase.cpu[f"{part}_ms_per_task"] for part in ("server", "workers", "database"))
        rows.append(
            [
                run.layout,
                run.database,
                f"{phase.tasks_per_s:.1f}",
                f"{cpu_ms:.0f}",
                f"{base.tasks_per_s:.0f}",
                f"{base.cpu_ms_per_process:.2f}",
                f"1/{base.tasks_per_s / phase.tasks_per_s:.0f}" if phase.tasks_per_s else "-",
                f"{cpu_ms / base.cpu_ms_per_process:.0f}x" if base.cpu_ms_per_process else "-",
            ]
        )
    print(table(header, rows))

    print(
        "\nburst: where the time went (CPU ms per task; busy = share of all cores used during the phase, "
        "other = the part of it not used by this run's processes)"
    )
    header = [
        "layout",
        "db",
        "first claim ms",
        "slot occupancy",
        "server CPU",
        "workers CPU",
        "db CPU",
        "client CPU",
        "busy",
        "other",
    ]
    header += ["claims/task", "claim ms", "reports/task", "report ms"]
    rows = []
    for run in runs:
        phase = run.phases[0]
        claim = phase.operations.get("claim_task", {})
        reports = phase.operations.get("report_task", {})
        rows.append(
            [
                run.layout,
                run.database,
                f"{phase.first_claim_ms:.0f}",
                f"{phase.slot_occupancy * 100:.0f}%",
                f"{phase.cpu['server_ms_per_task']:.0f}",
                f"{phase.cpu['workers_ms_per_task']:.0f}",
                f"{phase.cpu['database_ms_per_task']:.0f}",
                f"{phase.cpu['client_ms_per_task']:.0f}",
                f"{phase.cpu['machine_busy'] * 100:.0f}%",
                f"{phase.cpu['other_busy'] * 100:.0f}%",
                f"{claim.get('per_task', 0):.2f}",
                f"{claim.get('mean_ms', float('nan')):.1f}",
                f"{reports.get('per_task', 0):.2f}",
                f"{reports.get('mean_ms', float('nan')):.1f}",
            ]
        )
    print(table(header, rows))

    idle_runs = [(run, run.phases[1]) for run in runs if len(run.phases) > 1]
    if idle_runs:
        print("\nidle: one task at a time on idle workers (ms)")
        header = ["layout", "db", "tasks", "failed", "submit→start p50", "p90", "p99", "max"]
        header += ["queued→claimed p50", "max", "claimed→running p50", "start→end p50", "claims/task"]
        rows = []
        for run, phase in idle_runs:
            rows.append(
                [
                    run.layout,
                    run.database,
                    f"{phase.completed}/{phase.tasks}",
                    str(phase.failed + phase.unfinished + len(phase.submit_errors)),
                    *(ms(phase.submit_to_start, key) for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms")),
                    ms(phase.queued_to_claimed, "p50_ms"),
                    ms(phase.queued_to_claimed, "max_ms"),
                    ms(phase.claimed_to_running, "p50_ms"),
                    ms(phase.start_to_end, "p50_ms"),
                    f"{phase.operations.get('claim_task', {}).get('per_task', 0):.1f}",
                ]
            )
        print(table(header, rows))

    for run in runs:
        for phase in run.phases:
            for problem in [*phase.submit_errors, *phase.failures]:
                print(f"  {run.layout} {run.database} {phase.name}: {problem}")


def _printable(value: Any) -> Any:
    """A setting as it may be written out: paths as text, no password of a database URL."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        return re.sub(r"(//[^:/@]+):[^@/]*@", r"\1:***@", value)
    return value


def parse_layout(value: str) -> str:
    match = re.fullmatch(r"(\d+)x(\d+)", value)
    if match is None or not 1 <= int(match[1]) <= 16 or not 1 <= int(match[2]) <= 64:
        raise argparse.ArgumentTypeError(f"{value!r}: expected WxS, e.g. 2x2 (1-16 workers, 1-64 slots)")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=200, help="tasks in the burst")
    parser.add_argument(
        "--layout",
        action="append",
        type=parse_layout,
        default=None,
        metavar="WxS",
        help=f"W worker agents with S slots each; repeatable (default: {' and '.join(DEFAULT_LAYOUTS)})",
    )
    parser.add_argument("--workers", type=int, default=None, help="with --slots: one layout of N agents")
    parser.add_argument("--slots", type=int, default=None, help="slots per agent (default 4 with --workers)")
    parser.add_argument("--submitters", type=int, default=8, help="concurrent submitting clients")
    parser.add_argument(
        "--submit",
        choices=("tasks", "sweep"),
        default="tasks",
        help="the burst as single POST /v1/tasks (default) or as one POST /v1/sweeps",
    )
    parser.add_argument("--idle-tasks", type=int, default=10, help="tasks of the idle phase (0: skip it)")
    parser.add_argument("--server-workers", type=int, default=2, help="gunicorn workers of the API")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds a phase may take to finish")
    parser.add_argument("--log-level", default="INFO", help="RUNPLANE_LOG_LEVEL of the server and the agents")
    parser.add_argument(
        "--worker-option",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra argument for every worker agent, e.g. --worker-option=--claim-gather-seconds=0 (repeatable)",
    )
    backend = parser.add_mutually_exclusive_group()
    backend.add_argument(
        "--postgres",
        action="store_true",
        help="each layout on SQLite and on a fresh PostgreSQL database (created, then dropped)",
    )
    backend.add_argument(
        "--database-url", default=None, help="an existing database to use instead of SQLite (kept)"
    )
    parser.add_argument(
        "--postgres-admin-url", default=POSTGRES_ADMIN_URL, help="where --postgres creates its databases"
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=None,
        help="seconds the server and the agents may take to start (default 60; more on a loaded machine)",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the idle phase's random gaps")
    parser.add_argument("--keep-data", action="store_true", help="keep the data dirs and the logs")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if args.ready_timeout is not None:
        global READY_TIMEOUT_S
        READY_TIMEOUT_S = api_load.READY_TIMEOUT_S = args.ready_timeout
    if not 1 <= args.tasks <= 100_000 or not 1 <= args.submitters <= 256 or not 0 <= args.idle_tasks <= 1000:
        parser.error("--tasks must be in [1, 100000], --submitters in [1, 256], --idle-tasks in [0, 1000]")
    if not 0 < args.timeout <= 600 or not 1 <= args.server_workers <= 64:
        parser.error("--timeout must be in (0, 600] and --server-workers in [1, 64]")
    if args.workers is not None or args.slots is not None:
        try:
            workers = 1 if args.workers is None else args.workers
            layouts = [parse_layout(f"{workers}x{4 if args.slots is None else args.slots}")]
        except argparse.ArgumentTypeError as exc:
            parser.error(f"--workers/--slots: {exc}")
    else:
        layouts = args.layout or list(DEFAULT_LAYOUTS)

    info = machine()
    databases: list[tuple[str, str | None]] = [("sqlite", None)]
    if args.database_url:
        databases = [("given", args.database_url)]
    elif args.postgres:
        databases.append(("postgres", None))
    print(
        f"dispatch: {info['date']}, {info['cores']} cores ({info['cpu']}), load average {info['loadavg_before']}; "
        f"{args.tasks} no-op tasks by {args.submitters} submitters, then {args.idle_tasks} one at a time; "
        f"layouts {', '.join(layouts)}; databases {', '.join(name for name, _ in databases)}; "
        f"API on {args.server_workers} gunicorn workers",
        flush=True,
    )
    root = Path(tempfile.mkdtemp(prefix="runplane-dispatch-"))
    runs: list[Run] = []
    try:
        for database, url in databases:
            for layout in layouts:
                if database == "postgres":
                    with fresh_postgres(args.postgres_admin_url) as fresh:
                        runs.append(run_layout(layout, database, fresh, root, args))
                else:
                    runs.append(run_layout(layout, database, url, root, args))
    finally:
        if args.keep_data:
            print(f"data and logs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    report(runs)
    result = {
        "machine": info,
        "settings": {key: _printable(value) for key, value in vars(args).items()},
        "layouts": layouts,
        "runs": [asdict(run) for run in runs],
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for path in filter(None, [RESULTS_DIR / f"dispatch-{stamp}.json", args.json]):
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"figures written to {path}")
    problems = sum(
        phase.failed + phase.unfinished + len(phase.submit_errors) for run in runs for phase in run.phases
    )
    if problems:
        print(f"\nFAILED: {problems} task(s) failed, did not finish or were not submitted", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
