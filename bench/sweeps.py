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

`--ops` measures instead what a big sweep costs once it exists (issue 11: 10,000-task sweeps first-class),
on a server with ONE API process (so that a slow operation would block the only event loop answering):

* one sweep of `--ops-size` tasks (default 10,000); a worker (the worker API, as an agent drives it)
  completes `--completed` of them, each uploading a results.json with a few metrics;
* `GET /v1/sweeps/{id}/results`, `--rounds` times: wall seconds and server CPU per request;
* `GET /v1/sweeps/{id}?metric=loss` (the best trial), `--rounds` times, the same;
* `DELETE /v1/sweeps/{id}` once (every queued task cancelled): wall and server CPU; meanwhile a thread
  asks `/healthz` over and over, and the slowest answer seen during the DELETE is printed (a DELETE that
  blocked the event loop for seconds shows here as a seconds-long /healthz).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import statistics
import sys
import tempfile
import threading
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


def complete_tasks(base_url: str, admin_key: str, count: int) -> None:
    """Claims and completes `count` queued tasks through the worker API, each with a results.json."""
    worker_key = create_worker_key(base_url, admin_key)
    headers = {"X-API-Key": worker_key}
    free = {"free_slots": 1, "free_cpu": 8, "free_memory_gb": 32, "free_gpus": 0}
    with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_S) as http:
        answer = http.post(
            "/v1/workers",
            json={
                "name": "bench-worker",
                "hostname": "bench",
                "version": "bench",
                "slots": 1,
                "capabilities": {"cpu_cores": 8, "memory_gb": 32, "gpus": []},
            },
        )
        answer.raise_for_status()
        base = f"/v1/workers/{answer.json()['worker_id']}"
        for index in range(count):
            for _ in range(100):  # a claim may answer without an assignment (its long-poll ended first)
                claim = http.post(f"{base}/claim", json=free)
                claim.raise_for_status()
                assignment = claim.json().get("assignment")
                if assignment is not None:
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError(f"no task claimed for completion {index}: {claim.text[:300]}")
            task_id = assignment["task_id"]
            report = f"{base}/tasks/{task_id}/report"
            http.post(report, json={"status": "running"}).raise_for_status()
            summary = {"loss": 1.0 / (index + 1), "accuracy": index / count, "epochs": index % 7}
            document = json.dumps({"summary": summary, "rows": []}).encode()
            http.post(
                f"{base}/tasks/{task_id}/artifacts",
                headers={"Content-Type": "application/octet-stream"},
                params={"path": "results.json", "sha256": hashlib.sha256(document).hexdigest()},
                content=document,
            ).raise_for_status()
            http.post(report, json={"status": "collecting"}).raise_for_status()
            http.post(report, json={"status": "completed"}).raise_for_status()


def create_worker_key(base_url: str, admin_key: str) -> str:
    answer = httpx.post(
        base_url + "/v1/keys",
        headers={"X-API-Key": admin_key},
        json={"name": "bench-worker", "role": "worker"},
        timeout=30,
    )
    answer.raise_for_status()
    key: str = answer.json()["key"]
    return key


class HealthProbe:
    """Asks /healthz over and over on its own thread; keeps each answer's (sent, answered) times."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.answers: list[tuple[float, float]] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=REQUEST_TIMEOUT_S) as http:
            while not self._stop.is_set():
                sent = time.perf_counter()
                ok = http.get("/healthz").status_code == 200
                self.answers.append((sent, time.perf_counter()))
                self.failures += not ok
                time.sleep(0.005)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=REQUEST_TIMEOUT_S)

    def slowest_within(self, start: float, end: float) -> tuple[float, int]:
        """The slowest answer (seconds) among requests in flight during [start, end], and their count."""
        during = [done - sent for sent, done in self.answers if sent <= end and done >= start]
        return (max(during) if during else float("nan")), len(during)


def timed(server: Any, call: Any) -> tuple[float, float, httpx.Response]:
    """(wall s, server CPU s, answer) of one request."""
    cpu = server_cpu_seconds(server)
    start = time.perf_counter()
    answer = call()
    wall = time.perf_counter() - start
    return wall, server_cpu_seconds(server) - cpu, answer


def measure_ops(database: str, database_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    """A big sweep's results table, best trial and cancel, on a one-process server (see the docstring)."""
    with tempfile.TemporaryDirectory(prefix="rp-sweeps-") as root:
        server = start_server(Path(root), server_workers=1, database_url=database_url, log_level="INFO")
        try:
            key = create_key(server, "bench-user", "user")
            headers = {"X-API-Key": key}
            body = {"task": TASK, "grid": {"shard": list(range(args.ops_size))}}
            created = httpx.post(
                server.base_url + "/v1/sweeps", headers=headers, json=body, timeout=REQUEST_TIMEOUT_S
            )
            if created.status_code != 201:
                raise RuntimeError(f"sweep answered {created.status_code}: {created.text[:500]}")
            sweep_id = created.json()["id"]
            complete_tasks(server.base_url, server.key, args.completed)
            url = f"{server.base_url}/v1/sweeps/{sweep_id}"
            figures: dict[str, Any] = {"size": args.ops_size, "completed": args.completed}
            with httpx.Client(headers=headers, timeout=REQUEST_TIMEOUT_S) as http:
                for name, path in (("results", url + "/results"), ("best", url + "?metric=loss&goal=min")):
                    walls, cpus = [], []
                    for _ in range(args.rounds):
                        wall, cpu, answer = timed(server, lambda path=path: http.get(path))
                        if answer.status_code != 200:
                            raise RuntimeError(
                                f"GET {path} answered {answer.status_code}: {answer.text[:300]}"
                            )
                        walls.append(wall)
                        cpus.append(cpu)
                    if name == "results" and len(answer.json()["rows"]) != args.ops_size:
                        raise RuntimeError("the results table has the wrong row count")
                    if name == "best" and args.completed and answer.json().get("best") is None:
                        raise RuntimeError("no best trial")
                    figures[name] = {"wall_s": walls, "server_cpu_s": cpus}
                with HealthProbe(server.base_url) as probe:
                    while not probe.answers:  # the probe is running before the DELETE is sent
                        time.sleep(0.01)
                    start = time.perf_counter()
                    wall, cpu, answer = timed(server, lambda: http.delete(url))
                    end = time.perf_counter()
                    # A few more answers after the DELETE, so the last one in flight is counted.
                    count = len(probe.answers)
                    while len(probe.answers) < count + 2:
                        time.sleep(0.01)
                if answer.status_code != 200:
                    raise RuntimeError(f"DELETE answered {answer.status_code}: {answer.text[:300]}")
                if answer.json()["cancelled"] != args.ops_size - args.completed:
                    raise RuntimeError(f"DELETE cancelled {answer.json()['cancelled']} tasks")
                slowest, probes = probe.slowest_within(start, end)
                figures["cancel"] = {
                    "wall_s": [wall],
                    "server_cpu_s": [cpu],
                    "healthz_slowest_s": slowest,
                    "healthz_during": probes,
                    "healthz_failures": probe.failures,
                }
        finally:
            server.stop()
    return {"database": database, "ops": figures}


def report_ops(runs: list[dict[str, Any]]) -> None:
    rows = []
    for run in runs:
        ops = run["ops"]
        for name, how in (
            ("results", "GET .../results"),
            ("best", "GET ...?metric=loss"),
            ("cancel", "DELETE /v1/sweeps/{id}"),
        ):
            figure = ops[name]
            extra = ""
            if name == "cancel":
                extra = f"{figure['healthz_slowest_s'] * 1000:.0f} ms ({figure['healthz_during']} probes)"
            rows.append(
                [
                    run["database"],
                    f"{how} ({ops['size']:,} tasks, {ops['completed']} done)",
                    f"{statistics.median(figure['wall_s']):.3f}",
                    f"{statistics.median(figure['server_cpu_s']):.3f}",
                    extra,
                ]
            )
    header = ["database", "operation", "wall s (median)", "server CPU s (median)", "slowest /healthz during"]
    print(table(header, rows))


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
    parser.add_argument(
        "--ops", action="store_true", help="time a big sweep's results, best trial and cancel instead"
    )
    parser.add_argument("--ops-size", type=int, default=10_000, help="tasks of the --ops sweep")
    parser.add_argument("--completed", type=int, default=200, help="--ops tasks completed with results")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if not all(1 <= size <= 10_000 for size in args.sizes) or not 1 <= args.rounds <= 20:
        parser.error("--sizes must be in [1, 10000] and --rounds in [1, 20]")
    if not 1 <= args.baseline_tasks <= 10_000 or not 1 <= args.submitters <= 256:
        parser.error("--baseline-tasks must be in [1, 10000] and --submitters in [1, 256]")

    if args.ops and not 0 <= args.completed < args.ops_size <= 10_000:
        parser.error("--ops-size must be in [1, 10000] and --completed in [0, --ops-size)")

    runs = []
    run = measure_ops if args.ops else measure
    try:
        runs.append(run("SQLite", None, args))
        if args.postgres:
            with fresh_postgres(args.postgres_admin_url) as url:
                runs.append(run("PostgreSQL", url, args))
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"sweeps benchmark failed: {exc}", file=sys.stderr)
        return 1
    (report_ops if args.ops else report)(runs)
    result = {"at": datetime.now(UTC).isoformat(), "machine": machine(), "runs": runs}
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kind = "sweep-ops" if args.ops else "sweeps"
    for path in (RESULTS_DIR / f"{kind}-{stamp}.json", args.json):
        if path is not None:
            path.write_text(json.dumps(result, indent=2) + "\n")
    if args.ops:
        failures = sum(run["ops"]["cancel"]["healthz_failures"] for run in runs)
    else:
        failures = sum(run["baseline"]["failures"] for run in runs)
    return 1 if failures else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
