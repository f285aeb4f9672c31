"""The API's share of a no-op task, in one process: create, claim, reports, CPU per task by operation.

    .venv/bin/python bench/dispatch_cycle.py                       # SQLite, 200 tasks in batches of 4
    .venv/bin/python bench/dispatch_cycle.py --postgres            # a fresh PostgreSQL database (dropped after)
    .venv/bin/python bench/dispatch_cycle.py --profile 30          # and cProfile's top 30 (by own time)
    .venv/bin/python bench/dispatch_cycle.py --profile 30 --profile-only report   # of the reports only
    .venv/bin/python bench/dispatch_cycle.py --old-agent           # the reports an agent sent before issue 11
    .venv/bin/python bench/dispatch_cycle.py --folded              # one end report with run_seconds (issue 11)
    .venv/bin/python bench/dispatch_cycle.py --compare             # the agent's two reports, then --folded
    .venv/bin/python bench/dispatch_cycle.py --exchange            # --folded, then the end reports in claims

`bench/dispatch.py` measures the whole system (gunicorn, real agents, shims) and moves with the load of a
shared machine. This script isolates the server's work on the dispatch path: the app in-process (as the
tests build it, over httpx's ASGI transport, no sockets), one worker, and for each batch of `--batch` tasks:
`--batch` times `POST /v1/tasks`, one `POST .../claim` (`max_tasks` = `--batch`), then each task's reports as
an agent sends them for a no-op task (`running`, `completed`: an agent with `--start-report-delay-seconds 0`,
or whose task outlived the delay; with `--old-agent`: `preparing`, `running`, `collecting`, `completed`; with
`--folded`: today's agent for a task that ended within the delay, one `completed` with `run_seconds`).
`--compare` runs the two-report agent and then `--folded` in one process and prints them side by side.
`--exchange` runs `--folded` and then the agent of issue 11 §2, whose end reports (the same folded
`completed`) ride on its next claim (`reports`): each batch's claim carries the previous batch's ends, and
a last claim the last batch's; side by side as well. The figure is this process's CPU time (user + system, all threads:
the driver's threads included) per task and per operation, so other work on the machine changes it little.
It does not include the database server's CPU on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import resource
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import psycopg
from asgi_lifespan import LifespanManager

from runplane.app import create_app
from runplane.keys import create_key
from runplane.settings import Settings
from runplane.store.database import Database, migrate
from runplane.store.keys import KeyStore

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def new_key(url: str, role: str, name: str) -> str:
    db = Database(url)
    try:
        return (await create_key(KeyStore(db), name=name, role=role))[1]
    finally:
        await db.close()


# The reports a no-op task costs, by agent.
AGENTS: dict[str, list[dict[str, Any]]] = {
    "old agent": [{"status": s} for s in ("preparing", "running", "collecting", "completed")],
    "agent": [{"status": "running"}, {"status": "completed"}],
    "folded agent": [{"status": "completed", "run_seconds": 0.004}],
    # The folded end, carried by the next claim instead of its own request.
    "exchange agent": [],
}
EXCHANGED = {"status": "completed", "run_seconds": 0.004}


async def run(url: str, data_dir: Path, args: argparse.Namespace, agent: str) -> dict[str, float]:
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        rate_limit="10000000/minute",
        worker_rate_limit="10000000/minute",
        auth_failure_limit="100000/minute",
        reaper_seconds=0,
    )
    sql_url = settings.sqlalchemy_url
    migrate(sql_url)
    user = {"X-API-Key": await new_key(sql_url, "user", "bench")}
    worker = {"X-API-Key": await new_key(sql_url, "worker", "bench-worker")}
    reports = AGENTS[agent]
    spent: dict[str, float] = defaultdict(float)
    profiler = cProfile.Profile() if args.profile else None
    application = create_app(settings)
    async with LifespanManager(application) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            answer = await http.post(
                "/v1/workers",
                headers=worker,
                json={
                    "name": "w0",
                    "hostname": "w0",
                    "version": "bench",
                    "slots": args.batch,
                    "capabilities": {"cpu_cores": args.batch, "memory_gb": args.batch, "gpus": []},
                },
            )
            answer.raise_for_status()
            worker_id = answer.json()["worker_id"]

            async def timed(name: str, call: Any) -> httpx.Response:
                before = cpu()
                profiled = profiler if name.startswith(args.profile_only) else None
                if profiled is not None:
                    profiled.enable()
                response: httpx.Response = await call
                if profiled is not None:
                    profiled.disable()
                spent[name] += cpu() - before
                if response.status_code >= 300:
                    raise RuntimeError(f"{name}: {response.status_code} {response.text}")
                return response

            # The exchange agent's ended tasks whose reports its next claim carries.
            ended: list[str] = []

            async def exchange(free: dict[str, Any]) -> httpx.Response:
                carried = [{"task_id": task_id, "report": {"attempt": 1, **EXCHANGED}} for task_id in ended]
                name = "claim + reports" if carried else "claim"
                claimed = await timed(
                    name,
                    http.post(
                        f"/v1/workers/{worker_id}/claim", headers=worker, json={**free, "reports": carried}
                    ),
                )
                outcomes = claimed.json()["reports"]
                assert [r["status"] for r in outcomes] == [200] * len(carried), claimed.text
                ended.clear()
                return claimed

            async def batch() -> None:
                for _ in range(args.batch):
                    body = {"job_name": f"noop-{uuid.uuid4().hex[:6]}", "entrypoint": "true"}
                    await timed("create", http.post("/v1/tasks", headers=user, json=body))
                free = {
                    "free_slots": args.batch,
                    "free_cpu": args.batch,
                    "free_memory_gb": args.batch,
                    "free_gpus": 0,
                    "max_tasks": args.batch,
                }
                if agent == "exchange agent":
                    claimed = await exchange(free)
                else:
                    claimed = await timed(
                        "claim", http.post(f"/v1/workers/{worker_id}/claim", headers=worker, json=free)
                    )
                ids = [a["task_id"] for a in claimed.json().get("assignments", [])]
                assert len(ids) == args.batch, claimed.text
                ended.extend(ids)
                for sent in reports:
                    name = f"report {sent['status']}" + (" (folded)" if "run_seconds" in sent else "")
                    for task_id in ids:
                        await timed(
                            name,
                            http.post(
                                f"/v1/workers/{worker_id}/tasks/{task_id}/report",
                                headers=worker,
                                json={"attempt": 1, **sent},
                            ),
                        )

            for _ in range(max(1, args.warmup // args.batch)):
                await batch()
            spent.clear()
            start = time.monotonic()
            rounds = max(1, args.tasks // args.batch)
            for _ in range(rounds):
                await batch()
            if agent == "exchange agent":
                # The last batch's ends, on a claim that takes nothing (all of them are this run's tasks).
                await exchange({"free_slots": 0, "free_cpu": 0, "free_memory_gb": 0, "free_gpus": 0})
            wall = time.monotonic() - start
    tasks = rounds * args.batch
    figures = {name: total * 1000 / tasks for name, total in spent.items()}
    figures["total"] = sum(spent.values()) * 1000 / tasks
    figures["wall ms/task"] = wall * 1000 / tasks
    if profiler is not None and profiler.getstats():  # nothing profiled: no such operation in this run
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.profile)
        print(out.getvalue())
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.profile)
        print(out.getvalue())
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--batch", type=int, default=4, help="tasks per claim (the agent's free slots)")
    parser.add_argument("--warmup", type=int, default=20, help="tasks run first and not counted")
    parser.add_argument(
        "--postgres", action="store_true", help="a fresh PostgreSQL database instead of SQLite"
    )
    parser.add_argument("--old-agent", action="store_true", help="preparing, running, collecting, completed")
    parser.add_argument("--folded", action="store_true", help="one completed report with run_seconds")
    parser.add_argument("--compare", action="store_true", help="the agent's two reports, then --folded")
    parser.add_argument(
        "--exchange", action="store_true", help="--folded, then the folded ends carried by the next claim"
    )
    parser.add_argument("--profile", type=int, default=0, help="print cProfile's top N functions")
    parser.add_argument(
        "--profile-only",
        default="",
        metavar="PREFIX",
        help="profile only the operations whose name starts with PREFIX (e.g. 'report completed')",
    )
    args = parser.parse_args()
    if args.compare:
        agents = ["agent", "folded agent"]
    elif args.exchange:
        agents = ["folded agent", "exchange agent"]
    else:
        agents = ["old agent" if args.old_agent else "folded agent" if args.folded else "agent"]
    results = {agent: measure(args, agent) for agent in agents}
    db = "postgresql" if args.postgres else "sqlite"
    print(f"dispatch_cycle: {db}, {args.tasks} tasks, batches of {args.batch}; CPU ms per task:")
    names = list(dict.fromkeys(name for figures in results.values() for name in figures))
    print(f"  {'':26s}" + "".join(f"{agent:>16s}" for agent in agents))
    for name in names:
        cells = "".join(
            f"{results[agent][name]:16.2f}" if name in results[agent] else f"{'':16s}" for agent in agents
        )
        print(f"  {name:26s}{cells}")
    return 0


def measure(args: argparse.Namespace, agent: str) -> dict[str, float]:
    """One run of `run` on a fresh database (SQLite in a temporary directory, or PostgreSQL)."""
    with tempfile.TemporaryDirectory(prefix="runplane-cycle-") as tmp:
        data_dir = Path(tmp)
        if args.postgres:
            name = f"rp_cycle_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url = f"{POSTGRES_ADMIN_URL.rpartition('/')[0]}/{name}".replace(
                "postgresql://", "postgresql+psycopg://", 1
            )
        else:
            url = f"sqlite+aiosqlite:///{data_dir / 'cycle.sqlite3'}"
        try:
            return asyncio.run(run(url, data_dir, args, agent))
        finally:
            if args.postgres:
                with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
