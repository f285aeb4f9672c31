"""Chaos: N tasks through real workers that are SIGKILLed and restarted; lost, stuck and re-run counts.

    .venv/bin/python bench/chaos.py                      # defaults: 120 tasks, 2 workers x 4 slots, SQLite
    .venv/bin/python bench/chaos.py --postgres           # on SQLite and on a fresh PostgreSQL database
    .venv/bin/python bench/chaos.py --tasks 300 --kill-every 7 --lease-seconds 10

Everything is started fresh on 127.0.0.1 for each database: the API (`runplane serve --workers 2`, short
leases: `--lease-seconds`, heartbeats every lease/6, the reaper every 0.5 s) and `--workers` worker agents
(`runplane worker --slots S --cores S --memory-gb S`). `--tasks` tasks are submitted at once; each sleeps
0.2 to 2 s, writes an artifact and records, in a shared directory, that this execution of its script ran to
its end. While they run, every `--kill-every` seconds (jittered by +-50 %) a random agent is SIGKILLed (its
tasks' processes die with it: the shim takes their group down) and a new agent of the same name started.
When the last task has ended (or `--timeout` passed), the agents are stopped and the figures read:

* lost: tasks that ended other than `completed` (`max_retries` is 20: a task is lost only if the system
  dropped it, not because it ran out of retries);
* stuck: tasks not ended by the deadline;
* re-runs: attempts beyond the first (`retry_count` summed): the at-least-once price of the kills;
* finished twice: tasks whose script ran to its end more than once, i.e. finished work that ran again
  because its report did not count (issue 7, item 4: leases renewed by every request, a late report of
  the current attempt accepted, are meant to keep this near zero);
* orphans: task processes still alive after everything stopped (psutil, by this run's token);
* missing artifacts: completed tasks without the artifact their last execution wrote.

Exit status 1 when anything was lost, stuck, orphaned or missing. Figures are printed as a table and written
as JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import secrets
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from api_load import (
    HOST,
    RATE_LIMIT,
    RESULTS_DIR,
    Server,
    _spawn,
    clean_env,
    free_port,
    runplane_command,
    table,
)
from dispatch import (
    POSTGRES_ADMIN_URL,
    TERMINAL,
    Worker,
    create_key,
    fresh_postgres,
    start_worker,
    wait_registered,
)

TASK = (
    "import os, pathlib, sys, time; n, pause, runs = sys.argv[1], float(sys.argv[2]), pathlib.Path(sys.argv[3]); "
    "time.sleep(pause); "
    "(pathlib.Path(os.environ['RUNPLANE_OUTPUT_DIR']) / 'out.txt').write_text(n); "
    "(runs / '.'.join([n, os.environ['RUNPLANE_ATTEMPT'], str(os.getpid())])).touch(); print('done', n)"
)


@dataclass
class Figures:
    database: str
    tasks: int
    workers: int
    slots: int
    lease_seconds: float
    kills: int = 0
    seconds: float = 0.0
    completed: int = 0
    lost: int = 0
    stuck: int = 0
    reruns: int = 0
    tasks_rerun: int = 0
    finished_twice: int = 0
    orphans: int = 0
    missing_artifacts: int = 0
    lost_reasons: dict[str, int] = field(default_factory=dict)


def start_server(data_dir: Path, database_url: str | None, lease_seconds: float, log_level: str) -> Server:
    admin_key = "rp_bench-admin-" + secrets.token_hex(16)
    env = clean_env(
        RUNPLANE_DATA_DIR=str(data_dir),
        RUNPLANE_ADMIN_KEY=admin_key,
        RUNPLANE_RATE_LIMIT=RATE_LIMIT,
        RUNPLANE_WORKER_RATE_LIMIT=RATE_LIMIT,
        RUNPLANE_LOG_LEVEL=log_level,
        RUNPLANE_LEASE_SECONDS=str(lease_seconds),
        RUNPLANE_HEARTBEAT_SECONDS=str(lease_seconds / 6),
        RUNPLANE_REAPER_SECONDS="0.5",
    )
    if database_url:
        env["RUNPLANE_DATABASE_URL"] = database_url
    port = free_port()
    command = [*runplane_command(), "serve", "--host", HOST, "--port", str(port), "--workers", "2"]
    server = _spawn("runplane", command, env, data_dir, port)
    server.key = admin_key
    try:
        server.wait_ready("/readyz")
    except BaseException:
        server.stop()
        raise
    return server


def task_processes(token: str) -> list[int]:
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        if process.info["status"] != psutil.STATUS_ZOMBIE and token in (process.info["cmdline"] or []):
            found.append(process.pid)
    return found


class Killer(threading.Thread):
    """SIGKILLs a random agent every `every` s (+-50 %) and starts a new one of the same name."""

    def __init__(self, agents: dict[str, Worker], restart: Any, every: float, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.agents = agents
        self.restart = restart
        self.every = every
        self.rng = rng
        self.done = threading.Event()
        self.kills = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.done.wait(self.every * self.rng.uniform(0.5, 1.5)):
                name = self.rng.choice(sorted(self.agents))
                victim = self.agents[name]
                victim.process.kill()
                victim.process.wait(timeout=30)
                self.kills += 1
                self.agents[name] = self.restart(name)
        except BaseException as exc:  # reported by the main thread
            self.error = exc


def all_tasks(http: httpx.Client, key: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        answer = http.get(
            "/v1/tasks", headers={"X-API-Key": key}, params={"limit": 1000, "offset": len(rows)}
        )
        answer.raise_for_status()
        page = answer.json()
        rows.extend(page["tasks"])
        if not page["tasks"] or len(rows) >= page["total"]:
            return rows


def ended_count(http: httpx.Client, key: str) -> int:
    total = 0
    for status in TERMINAL:
        answer = http.get("/v1/tasks", headers={"X-API-Key": key}, params={"status": status, "limit": 1})
        answer.raise_for_status()
        total += int(answer.json()["total"])
    return total


def run_once(args: argparse.Namespace, database: str, database_url: str | None, root: Path) -> Figures:
    figures = Figures(database, args.tasks, args.workers, args.slots, args.lease_seconds)
    rng = random.Random(args.seed)
    token = f"chaos-{secrets.token_hex(6)}"
    runs = root / "runs"
    runs.mkdir(parents=True)
    (root / "server").mkdir()
    server = start_server(root / "server", database_url, args.lease_seconds, args.log_level)
    agents: dict[str, Worker] = {}
    killer: Killer | None = None
    generation = 0
    try:
        worker_key = create_key(server, "chaos-worker", "worker")
        user_key = create_key(server, "chaos-user", "user")

        def start(name: str) -> Worker:
            nonlocal generation
            generation += 1
            return start_worker(
                server, worker_key, name, args.slots, root / f"{name}-{generation}", args.log_level
            )

        for index in range(args.workers):
            name = f"chaos-{index}"
            agents[name] = start(name)
        wait_registered(server, list(agents.values()))
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            started = time.monotonic()
            for n in range(args.tasks):
                answer = http.post(
                    "/v1/tasks",
                    headers={"X-API-Key": user_key},
                    json={
                        "job_name": f"chaos-{n}",
                        "entrypoint": f'python -c "{TASK}"',
                        "args": [str(n), f"{rng.uniform(0.2, 2.0):.2f}", str(runs), token],
                        "cpu": 1,
                        "memory_gb": 0.25,
                        "max_retries": 20,
                    },
                )
                answer.raise_for_status()
            killer = Killer(agents, start, args.kill_every, rng)
            killer.start()
            deadline = started + args.timeout
            while ended_count(http, user_key) < args.tasks and time.monotonic() < deadline:
                time.sleep(0.5)
            killer.done.set()
            killer.join(timeout=120)
            if killer.error is not None:
                raise RuntimeError(f"the killer failed: {killer.error!r}") from killer.error
            figures.kills = killer.kills
            figures.seconds = round(time.monotonic() - started, 1)
            rows = all_tasks(http, user_key)
            for agent in agents.values():
                agent.stop()
            # The last kill's task processes need a moment to go: wait for them, boundedly.
            orphan_deadline = time.monotonic() + 30
            while task_processes(token) and time.monotonic() < orphan_deadline:
                time.sleep(0.2)
            figures.orphans = len(task_processes(token))
            finished: dict[str, int] = {}
            for marker in runs.iterdir():
                n = marker.name.split(".", 1)[0]
                finished[n] = finished.get(n, 0) + 1
            for row in rows:
                status = row["status"]
                figures.reruns += row["retry_count"]
                figures.tasks_rerun += row["retry_count"] > 0
                n = row["job_name"].removeprefix("chaos-")
                figures.finished_twice += finished.get(n, 0) > 1
                if status not in TERMINAL:
                    figures.stuck += 1
                elif status != "completed":
                    figures.lost += 1
                    reason = (row.get("failure") or {}).get("reason") or status
                    figures.lost_reasons[reason] = figures.lost_reasons.get(reason, 0) + 1
                else:
                    figures.completed += 1
                    artifact = http.get(
                        f"/v1/tasks/{row['id']}/artifacts/out.txt", headers={"X-API-Key": user_key}
                    )
                    figures.missing_artifacts += artifact.status_code != 200 or artifact.text != n
            figures.stuck += args.tasks - len(rows)
    finally:
        if killer is not None:
            killer.done.set()
        for agent in agents.values():
            with contextlib.suppress(Exception):
                agent.stop()
        server.stop()
    return figures


def report(results: list[Figures]) -> None:
    header = ["database", "tasks", "kills", "s", "completed", "lost", "stuck", "re-runs", "tasks re-run"]
    header += ["finished twice", "orphans", "missing artifacts"]
    rows = [
        [
            f.database,
            str(f.tasks),
            str(f.kills),
            f"{f.seconds:g}",
            str(f.completed),
            str(f.lost) + (f" {f.lost_reasons}" if f.lost_reasons else ""),
            str(f.stuck),
            str(f.reruns),
            str(f.tasks_rerun),
            str(f.finished_twice),
            str(f.orphans),
            str(f.missing_artifacts),
        ]
        for f in results
    ]
    print(table(header, rows, left=1))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=120, help="tasks to run")
    parser.add_argument("--workers", type=int, default=2, help="worker agents")
    parser.add_argument("--slots", type=int, default=4, help="slots per agent")
    parser.add_argument("--kill-every", type=float, default=5.0, help="mean seconds between two kills")
    parser.add_argument(
        "--lease-seconds", type=float, default=5.0, help="RUNPLANE_LEASE_SECONDS of the server"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds the tasks may take to end")
    parser.add_argument("--log-level", default="INFO", help="RUNPLANE_LOG_LEVEL of the server and the agents")
    backend = parser.add_mutually_exclusive_group()
    backend.add_argument(
        "--postgres", action="store_true", help="on SQLite and on a fresh PostgreSQL database"
    )
    backend.add_argument("--database-url", default=None, help="an existing database instead of SQLite (kept)")
    parser.add_argument(
        "--postgres-admin-url", default=POSTGRES_ADMIN_URL, help="where --postgres creates dbs"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the pauses and of the kills")
    parser.add_argument("--keep-data", action="store_true", help="keep the data dirs and the logs")
    args = parser.parse_args()
    if not 1 <= args.tasks <= 10_000 or not 1 <= args.workers <= 32 or not 1 <= args.slots <= 64:
        parser.error("--tasks must be in [1, 10000], --workers in [1, 32], --slots in [1, 64]")
    if (
        not 0.5 <= args.kill_every <= 600
        or not 1 <= args.lease_seconds <= 600
        or not 0 < args.timeout <= 3600
    ):
        parser.error(
            "--kill-every must be in [0.5, 600], --lease-seconds in [1, 600], --timeout in (0, 3600]"
        )
    root = Path(tempfile.mkdtemp(prefix="rp-chaos-"))
    results: list[Figures] = []
    try:
        if args.database_url:
            results.append(run_once(args, "given", args.database_url, root / "given"))
        else:
            results.append(run_once(args, "sqlite", None, root / "sqlite"))
            if args.postgres:
                with fresh_postgres(args.postgres_admin_url) as url:
                    results.append(run_once(args, "postgres", url, root / "postgres"))
    finally:
        if args.keep_data:
            print(f"data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    report(results)
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"chaos-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(
        json.dumps({"args": vars(args), "results": [asdict(f) for f in results]}, indent=2, default=str)
    )
    print(f"written to {out}")
    bad = any(f.lost or f.stuck or f.orphans or f.missing_artifacts for f in results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
