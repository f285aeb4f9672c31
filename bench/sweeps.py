"""Sweep submission: tasks created per second through one `POST /v1/sweeps`, beside single `POST /v1/tasks`.

    .venv/bin/python bench/sweeps.py                      # defaults: 1,000 and 10,000-task sweeps, SQLite
    .venv/bin/python bench/sweeps.py --postgres           # the same on SQLite and a fresh PostgreSQL db
    .venv/bin/python bench/sweeps.py --sizes 1000 --baseline-tasks 200 --rounds 5

One runplane server as the README runs it (`runplane serve --workers 2`, a fresh temporary data directory,
rate limits so high they never refuse, logs at INFO to a file), on 127.0.0.1; no worker runs, so every
task stays queued and only creation is measured. For each database, one after another:

* `baseline`: `--baseline-tasks` single `POST /v1/tasks` (an entrypoint task, as a sweep's) from
  `--submitters` concurrent clients: tasks/s = tasks / wall time from the first request to the last answer.
* `sweep N` for each of `--sizes`: one `POST /v1/sweeps` whose grid makes N tasks (a command with a
  `{shard}` placeholder, `shard` = 0..N-1), timed from the request to its 201 (the answer arrives once every
  task is committed). Repeated `--rounds` times; tasks/s of the median round, and of the best.

Printed: tasks/s of each, the ratio sweep / baseline, and the server's CPU time per task created (all its
processes). Exit status 1 when a request fails or a sweep answers the wrong task count. The figures go to
bench/results/ as JSON too. Loopback only; every request has a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from api_load import RESULTS_DIR, machine, table
from dispatch import POSTGRES_ADMIN_URL, create_key, fresh_postgres, server_cpu_seconds, start_server

DEFAULT_SIZES = (1000, 10_000)
TASK = {"job_name": "shard", "entrypoint": "python scan.py", "args": ["--shard", "{shard}"]}
REQUEST_TIMEOUT_S = 120.0


async def baseline(base_url: str, key: str, tasks: int, submitters: int) -> dict[str, float]:
    """Single POST /v1/tasks from `submitters` clients; tasks/s over the whole wall time."""
    headers = {"X-API-Key": key}
    body = {"job_name": "shard", "entrypoint": "python scan.py", "args": ["--shard", "0"]}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(tasks):
        queue.put_nowait(index)
    failures = 0

    async def submitter(http: httpx.AsyncClient) -> None:
        nonlocal failures
        while True:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            answer = await http.post("/v1/tasks", headers=headers, json=body)
            failures += answer.status_code != 201

    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT_S) as http:
        start = time.perf_counter()
        await asyncio.gather(*(submitter(http) for _ in range(submitters)))
        wall = time.perf_counter() - start
    return {"tasks": tasks, "wall_s": wall, "tasks_per_s": tasks / wall, "failures": failures}


def one_sweep(base_url: str, key: str, size: int) -> float:
    """Seconds from sending one N-task sweep to its 201 (raises on any other answer)."""
    body = {"task": TASK, "grid": {"shard": list(range(size))}}
    start = time.perf_counter()
    answer = httpx.post(
        base_url + "/v1/sweeps", headers={"X-API-Key": key}, json=body, timeout=REQUEST_TIMEOUT_S
    )
    wall = time.perf_counter() - start
    if answer.status_code != 201 or answer.json()["task_count"] != size:
        raise RuntimeError(f"sweep of {size} answered {answer.status_code}: {answer.text[:500]}")
    return wall


def measure(database: str, database_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rp-sweeps-") as root:
        server = start_server(
            Path(root),
            server_workers=args.server_workers,
            database_url=database_url,
            log_level="INFO",
        )
        try:
            key = create_key(server, "bench-user", "user")
            cpu_before = server_cpu_seconds(server)
            base = asyncio.run(baseline(server.base_url, key, args.baseline_tasks, args.submitters))
            base["server_cpu_ms_per_task"] = (
                (server_cpu_seconds(server) - cpu_before) * 1000 / args.baseline_tasks
            )
            sweeps = []
            for size in args.sizes:
                cpu_before = server_cpu_seconds(server)
                walls = [one_sweep(server.base_url, key, size) for _ in range(args.rounds)]
                cpu_ms = (server_cpu_seconds(server) - cpu_before) * 1000 / (size * args.rounds)
                sweeps.append(
                    {
                        "size": size,
                        "rounds": args.rounds,
                        "wall_s": walls,
                        "tasks_per_s_median": size / statistics.median(walls),
                        "tasks_per_s_best": size / min(walls),
                        "server_cpu_ms_per_task": cpu_ms,
                    }
                )
        finally:
            server.stop()
    return {"database": database, "baseline": base, "sweeps": sweeps}


def report(runs: list[dict[str, Any]]) -> None:
    rows = []
    for run in runs:
        base = run["baseline"]
        rows.append(
            [
                run["database"],
                f"{base['tasks']} x POST /v1/tasks",
                f"{base['tasks_per_s']:,.0f}",
                "",
                "1.0x",
                f"{base['server_cpu_ms_per_task']:.2f}",
            ]
        )
        for sweep in run["sweeps"]:
            rows.append(
                [
                    run["database"],
                    f"POST /v1/sweeps ({sweep['size']:,} tasks)",
                    f"{sweep['tasks_per_s_median']:,.0f}",
                    f"{sweep['tasks_per_s_best']:,.0f}",
                    f"{sweep['tasks_per_s_median'] / base['tasks_per_s']:.0f}x",
                    f"{sweep['server_cpu_ms_per_task']:.2f}",
                ]
            )
    header = ["database", "how", "tasks/s (median)", "best", "vs baseline", "server CPU ms/task"]
    print(table(header, rows))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="tasks per sweep")
    parser.add_argument("--rounds", type=int, default=3, help="sweeps of each size")
    parser.add_argument(
        "--baseline-tasks", type=int, default=300, help="single POST /v1/tasks of the baseline"
    )
    parser.add_argument("--submitters", type=int, default=8, help="concurrent clients of the baseline")
    parser.add_argument("--server-workers", type=int, default=2, help="gunicorn workers of the API")
    parser.add_argument(
        "--postgres", action="store_true", help="also on a fresh PostgreSQL database (created, then dropped)"
    )
    parser.add_argument(
        "--postgres-admin-url", default=POSTGRES_ADMIN_URL, help="where --postgres creates it"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if not all(1 <= size <= 10_000 for size in args.sizes) or not 1 <= args.rounds <= 20:
        parser.error("--sizes must be in [1, 10000] and --rounds in [1, 20]")
    if not 1 <= args.baseline_tasks <= 10_000 or not 1 <= args.submitters <= 256:
        parser.error("--baseline-tasks must be in [1, 10000] and --submitters in [1, 256]")

    runs = []
    try:
        runs.append(measure("SQLite", None, args))
        if args.postgres:
            with fresh_postgres(args.postgres_admin_url) as url:
                runs.append(measure("PostgreSQL", url, args))
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"sweeps benchmark failed: {exc}", file=sys.stderr)
        return 1
    report(runs)
    result = {"at": datetime.now(UTC).isoformat(), "machine": machine(), "runs": runs}
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for path in (RESULTS_DIR / f"sweeps-{stamp}.json", args.json):
        if path is not None:
            path.write_text(json.dumps(result, indent=2) + "\n")
    failures = sum(run["baseline"]["failures"] for run in runs)
    return 1 if failures else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
