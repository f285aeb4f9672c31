"""Load on `GET /v1/tasks/{id}` and `POST /v1/tasks`: runplane as users run it, against a bare Starlette app.

    .venv/bin/python bench/api_load.py                # defaults: about 90 s in all
    .venv/bin/python bench/api_load.py --duration 10 --rounds 3 --connections 64

Both servers run side by side on 127.0.0.1, each with its own fresh data directory:

* runplane, started the way the README does: `runplane serve --workers 2` (gunicorn + uvicorn workers,
  migrations first), with RUNPLANE_ADMIN_KEY set and RUNPLANE_RATE_LIMIT so high that the limiter never
  refuses, but is still on and counts every request as in production. A user key is created through
  `POST /v1/keys`, and one task through `POST /v1/tasks` to have something to GET.
* bench/bare_app.py, served by runplane's own gunicorn command line with only the app target swapped, its
  key made with `runplane keys create`.

For each round and scenario (a trivial `GET /healthz`, then GET, then POST) each server gets a warm-up and
a measured phase of the same length, alternating which goes first, so background load on the machine
drifts over both alike. Every latency is kept; the figures pool all rounds. A phase also records the
CPU time the server's processes, the client and everything else on the machine spent, because client and
server share the cores: CPU per request on the server is the figure least disturbed by that.

The exit status is 1 when any request failed (a non-2xx answer or none at all), so `make bench` notices a
broken setup rather than printing fast errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import loadgen
import psutil

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
HOST = "127.0.0.1"  # loopback only: the benchmark never sends traffic anywhere else
READY_TIMEOUT_S = 180.0  # a server on a loaded 2-core machine can take a minute to start
STOP_TIMEOUT_S = 20.0
# High enough never to refuse in a bounded run, so the limiter's bookkeeping is measured, not its 429s.
RATE_LIMIT = "1000000000/minute"

SCENARIO_LIVENESS = "GET /healthz (trivial)"
SCENARIO_GET = "GET /v1/tasks/{id}"
SCENARIO_POST = "POST /v1/tasks"
SCENARIOS = (SCENARIO_LIVENESS, SCENARIO_GET, SCENARIO_POST)

# Distinct across every POST of the run (both servers, all rounds), so no two bodies are the same.
_post_numbers = itertools.count(1)


def _post_body(_n: int) -> bytes:
    number = next(_post_numbers)
    return b'{"job_name":"bench-%d","entrypoint":"echo %d","priority":5}' % (number, number)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any RUNPLANE_* of the caller's shell (a database URL, a Redis)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("RUNPLANE_")}
    env.update(overrides)
    return env


def runplane_gunicorn_command(port: int, workers: int) -> list[str]:
    """runplane's own gunicorn command line (what `runplane serve` execs)."""
    with warnings.catch_warnings():
        # connexion 3.3.0 imports starlette.testclient, which warns under starlette 1.x (pyproject's pytest
        # settings ignore the same warning); it is noise in a benchmark's output.
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from runplane.cli import gunicorn_command

    return gunicorn_command(HOST, port, workers)


def runplane_command() -> list[str]:
    """The venv's `runplane` console script, as the README runs it."""
    script = Path(sys.executable).with_name("runplane")
    return [str(script)] if script.exists() else [sys.executable, "-m", "runplane.cli"]


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's group (it runs in its own session), SIGKILL if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)


@dataclass
class Server:
    label: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    key: str = ""
    task_id: str = ""

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def master(self) -> psutil.Process:
        return psutil.Process(self.process.pid)

    def workers(self) -> list[psutil.Process]:
        return self.master().children(recursive=True)

    def processes(self) -> list[psutil.Process]:
        return [self.master(), *self.workers()]

    def wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.base_url + path, timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.label} not ready in {READY_TIMEOUT_S}s:\n{self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        # The server runs in its own session (process group): gunicorn's master and workers go together.
        stop_group(self.process)


def _spawn(label: str, command: list[str], env: dict[str, str], data_dir: Path, port: int) -> Server:
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(label=label, port=port, process=process, log_path=log_path)


def _create_task(server: Server) -> httpx.Response:
    answer = httpx.post(
        server.base_url + "/v1/tasks",
        headers={"X-API-Key": server.key},
        json={"job_name": "bench-target", "entrypoint": "echo target"},
        timeout=10,
    )
    answer.raise_for_status()
    server.task_id = answer.json()["id"]
    return answer


def start_runplane(data_dir: Path, *, workers: int, log_level: str) -> Server:
    admin_key = "rp_bench-admin-" + secrets.token_hex(16)
    env = clean_env(
        RUNPLANE_DATA_DIR=str(data_dir),
        RUNPLANE_ADMIN_KEY=admin_key,
        RUNPLANE_RATE_LIMIT=RATE_LIMIT,
        RUNPLANE_LOG_LEVEL=log_level,
    )
    port = free_port()
    command = [*runplane_command(), "serve", "--host", HOST, "--port", str(port), "--workers", str(workers)]
    server = _spawn("runplane", command, env, data_dir, port)
    server.wait_ready("/readyz")
    created = httpx.post(
        server.base_url + "/v1/keys",
        headers={"X-API-Key": admin_key},
        json={"name": "bench", "role": "user"},
        timeout=10,
    )
    created.raise_for_status()
    server.key = created.json()["key"]
    answer = _create_task(server)
    # The limiter must be on (as in production) and must not refuse: it announces its budget on every answer.
    if answer.headers.get("RateLimit-Limit") != RATE_LIMIT.split("/", 1)[0]:
        raise RuntimeError(f"rate limiter not active as expected: {dict(answer.headers)}")
    return server


CLI_TIMEOUT_S = 60.0
"""How long one `runplane` set-up command (`run_cli`) may take; longer on a busy machine (bench/idle.py)."""


def run_cli(arguments: list[str], env: dict[str, str]) -> str:
    """Runs a `runplane` subcommand; its stdout, or its whole output in the error when it fails."""
    done = subprocess.run(
        [*runplane_command(), *arguments],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise RuntimeError(f"runplane {' '.join(arguments)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def start_bare(data_dir: Path, *, workers: int, records: str) -> Server:
    env = clean_env(RUNPLANE_DATA_DIR=str(data_dir), BARE_RECORDS=records)
    # Same schema as runplane (its migrations) and a key made the way an operator makes one.
    run_cli(["migrate"], env)
    key = run_cli(["keys", "create", "--local", "--role", "user", "--name", "bench"], env).strip()
    # runplane's exact gunicorn command line (worker class, workers, timeouts, no control socket, log
    # level); only the app target differs. bench/ is put on the path so gunicorn can import bare_app.
    port = free_port()
    command = runplane_gunicorn_command(port, workers)
    command[command.index("runplane.asgi:app")] = "bare_app:app"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH_DIR), env.get("PYTHONPATH")]))
    server = _spawn("bare", command, env, data_dir, port)
    server.key = key
    server.wait_ready("/healthz")
    _create_task(server)
    return server


def scenario_for(server: Server, name: str) -> loadgen.Scenario:
    auth = {"X-API-Key": server.key}
    if name == SCENARIO_LIVENESS:
        return loadgen.Scenario(name, loadgen.get_request(HOST, server.port, "/healthz"))
    if name == SCENARIO_GET:
        return loadgen.Scenario(
            name, loadgen.get_request(HOST, server.port, f"/v1/tasks/{server.task_id}", auth)
        )
    if name == SCENARIO_POST:
        return loadgen.Scenario(
            name, loadgen.post_json_request(HOST, server.port, "/v1/tasks", _post_body, auth)
        )
    raise ValueError(name)


@dataclass
class Summary:
    """One server's figures for one scenario, pooled over every round."""

    server: str
    scenario: str
    requests: int
    elapsed_s: float
    rps: float
    rps_rounds: list[float]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    statuses: dict[str, int]
    transport_errors: dict[str, int]
    server_cpu_us_per_request: float
    client_cpu_us_per_request: float
    client_cpu_share: float
    other_cpu_share: float
    #: Each gunicorn worker's share of the workers' CPU time: gunicorn leaves it to the kernel which worker
    #: accepts a connection, and keep-alive connections stay where they landed.
    worker_cpu_split: list[float]


def summarise(server: str, scenario: str, phases: list[loadgen.PhaseResult], cores: int) -> Summary:
    # Process 0 is gunicorn's master (it serves nothing); the others are its workers.
    worker_cpu = [
        sum(values) for values in zip(*(phase.server_cpu_by_process[1:] for phase in phases), strict=False)
    ]
    latencies = sorted(itertools.chain.from_iterable(phase.latencies_s for phase in phases))
    requests = len(latencies)
    elapsed = sum(phase.elapsed_s for phase in phases)
    statuses: dict[str, int] = {}
    transport: dict[str, int] = {}
    for phase in phases:
        for status, count in phase.statuses.items():
            statuses[str(status)] = statuses.get(str(status), 0) + count
        for kind, count in phase.transport_errors.items():
            transport[kind] = transport.get(kind, 0) + count
    per_request = 1e6 / requests if requests else float("nan")
    return Summary(
        server=server,
        scenario=scenario,
        requests=requests,
        elapsed_s=round(elapsed, 3),
        rps=requests / elapsed if elapsed else 0.0,
        rps_rounds=[round(phase.rps, 1) for phase in phases],
        p50_ms=loadgen.percentile(latencies, 0.50) * 1e3,
        p90_ms=loadgen.percentile(latencies, 0.90) * 1e3,
        p99_ms=loadgen.percentile(latencies, 0.99) * 1e3,
        max_ms=(latencies[-1] if latencies else float("nan")) * 1e3,
        errors=sum(phase.errors for phase in phases),
        statuses=statuses,
        transport_errors=transport,
        server_cpu_us_per_request=sum(phase.server_cpu_s for phase in phases) * per_request,
        client_cpu_us_per_request=sum(phase.client_cpu_s for phase in phases) * per_request,
        client_cpu_share=sum(phase.client_cpu_s for phase in phases) / (elapsed * cores) if elapsed else 0.0,
        other_cpu_share=sum(phase.other_cpu_s for phase in phases) / (elapsed * cores) if elapsed else 0.0,
        worker_cpu_split=[
            round(value / sum(worker_cpu), 2) if sum(worker_cpu) else 0.0 for value in worker_cpu
        ],
    )


def rss_mb(server: Server) -> dict[str, Any]:
    def mb(process: psutil.Process) -> float:
        return round(process.memory_info().rss / 2**20, 1)

    return {"master": mb(server.master()), "workers": [mb(worker) for worker in server.workers()]}


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": loadgen.cpu_count(),
        "cpu": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "loadavg_before": [round(value, 2) for value in os.getloadavg()],
    }


@contextlib.contextmanager
def servers(root: Path, *, workers: int, log_level: str, records: str) -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        for label in ("runplane", "bare"):
            data_dir = root / label
            data_dir.mkdir(parents=True)
            if label == "runplane":
                started.append(start_runplane(data_dir, workers=workers, log_level=log_level))
            else:
                started.append(start_bare(data_dir, workers=workers, records=records))
        yield started
    finally:
        for server in started:
            server.stop()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    loop_name, loop_factory = loadgen.event_loop_factory()
    info = machine()
    phases = len(SCENARIOS) * 2 * args.rounds
    print(
        f"api_load: {info['date']}, {info['cores']} cores ({info['cpu']}), load average {info['loadavg_before']}; "
        f"{args.connections} connections, {args.rounds} round(s) of {args.warmup:g}s warm-up + "
        f"{args.duration:g}s per server and scenario (~{phases * (args.warmup + args.duration):.0f}s of load); "
        f"client on {loop_name}",
        flush=True,
    )
    root = Path(tempfile.mkdtemp(prefix="runplane-bench-", dir=args.data_root))
    results: dict[tuple[str, str], list[loadgen.PhaseResult]] = {}
    try:
        with servers(
            root, workers=args.workers, log_level=args.log_level, records=args.bare_records
        ) as running:
            print(f"servers ready: {', '.join(f'{s.label} {s.base_url}' for s in running)}", flush=True)
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                for round_index in range(args.rounds):
                    # Alternating who goes first spreads slow drifts of background load over both servers.
                    order = running if round_index % 2 == 0 else running[::-1]
                    for name in SCENARIOS:
                        for server in order:
                            scenario = scenario_for(server, name)
                            processes = server.processes()
                            common: dict[str, Any] = {
                                "connections": args.connections,
                                "max_requests": args.max_requests,
                                "server_processes": processes,
                            }
                            if args.warmup > 0:
                                runner.run(
                                    loadgen.run_phase(
                                        HOST,
                                        server.port,
                                        scenario,
                                        duration_s=args.warmup,
                                        record=False,
                                        **common,
                                    )
                                )
                            phase = runner.run(
                                loadgen.run_phase(
                                    HOST, server.port, scenario, duration_s=args.duration, **common
                                )
                            )
                            results.setdefault((server.label, name), []).append(phase)
                            print(
                                f"  round {round_index + 1} {server.label:<8} {name:<24} {phase.rps:9.0f} req/s  "
                                f"errors {phase.errors}",
                                flush=True,
                            )
            # After the load, while the servers still run: what each worker process holds.
            rss = {server.label: rss_mb(server) for server in running}
            log_bytes = {server.label: server.log_path.stat().st_size for server in running}
    finally:
        if not args.keep_data:
            shutil.rmtree(root, ignore_errors=True)
    summaries = [
        summarise(label, name, phases_, info["cores"]) for (label, name), phases_ in sorted(results.items())
    ]
    return {
        "machine": info,
        "settings": {
            "connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "workers": args.workers,
            "runplane_log_level": args.log_level,
            "bare_records": args.bare_records,
            "rate_limit": RATE_LIMIT,
            "client_event_loop": loop_name,
        },
        "summaries": [vars(summary) for summary in summaries],
        "rss_mb": rss,
        "server_log_bytes": log_bytes,
        "data_dir": str(root) if args.keep_data else None,
    }


def table(header: list[str], rows: list[list[str]], *, left: int = 2) -> str:
    """Columns as wide as their widest cell; the first `left` (names) left-aligned, the rest right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    return "\n".join("  " + line.rstrip() for line in lines)


def report(result: dict[str, Any]) -> None:
    summaries = {(s["server"], s["scenario"]): s for s in result["summaries"]}
    rows = []
    for name in SCENARIOS:
        for label in ("runplane", "bare"):
            s = summaries.get((label, name))
            if s is not None:
                rows.append(
                    [
                        label,
                        name,
                        str(s["requests"]),
                        f"{s['rps']:.0f}",
                        "/".join(f"{value:.0f}" for value in s["rps_rounds"]),
                        *(f"{s[key]:.2f}" for key in ("p50_ms", "p90_ms", "p99_ms")),
                        f"{s['max_ms']:.1f}",
                        str(s["errors"]),
                        f"{s['server_cpu_us_per_request']:.0f}",
                        f"{s['client_cpu_us_per_request']:.0f}",
                        f"{s['client_cpu_share'] * 100:.0f}%",
                        f"{s['other_cpu_share'] * 100:.0f}%",
                        "/".join(f"{share * 100:.0f}" for share in s["worker_cpu_split"]),
                    ]
                )
    print(
        "\nper server and scenario, all rounds pooled (latency in ms; CPU in µs per request; shares of all cores):"
    )
    header = ["server", "scenario", "requests", "req/s", "per round", "p50", "p90", "p99", "max", "errors"]
    print(table([*header, "server CPU", "client CPU", "client", "other", "worker split %"], rows))
    for s in result["summaries"]:
        if s["errors"]:
            print(
                f"  {s['server']} {s['scenario']}: statuses {s['statuses']}, no answer {s['transport_errors']}"
            )

    rows = []
    for name in SCENARIOS:
        ours, bare = summaries.get(("runplane", name)), summaries.get(("bare", name))
        if ours is None or bare is None:
            continue
        cpu_ours, cpu_bare = ours["server_cpu_us_per_request"], bare["server_cpu_us_per_request"]
        rows.append(
            [
                name,
                f"{ours['rps']:.0f}",
                f"{bare['rps']:.0f}",
                f"{bare['rps'] / ours['rps']:.2f}x" if ours["rps"] else "-",
                f"{ours['p50_ms']:.1f} / {ours['p99_ms']:.1f}",
                f"{bare['p50_ms']:.1f} / {bare['p99_ms']:.1f}",
                f"{cpu_ours:.0f} / {cpu_bare:.0f}",
                f"{cpu_ours / cpu_bare:.2f}x" if cpu_bare else "-",
            ]
        )
    writes = (
        "the task row"
        if result["settings"]["bare_records"] == "task"
        else "the task row, its event and its audit link, as runplane"
    )
    print(
        "\nrunplane vs bare Starlette (ratio = bare / runplane req/s, and runplane / bare server CPU per request;"
        f" the bare POST writes {writes}):"
    )
    header = [
        "scenario",
        "runplane req/s",
        "bare req/s",
        "ratio",
        "runplane p50/p99 ms",
        "bare p50/p99 ms",
    ]
    print(table([*header, "server CPU µs/req runplane / bare", "CPU ratio"], rows, left=1))

    print("\nRSS per process after the load (MB):")
    for label, rss in result["rss_mb"].items():
        workers = ", ".join(f"{value:.1f}" for value in rss["workers"])
        print(f"  {label:<9} workers {workers}   (gunicorn master {rss['master']:.1f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    parser.add_argument(
        "--duration", type=float, default=5.0, help="seconds measured per server, scenario, round"
    )
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="unrecorded seconds before each measured phase"
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds over every scenario and server")
    parser.add_argument(
        "--max-requests", type=int, default=2_000_000, help="cap on requests per phase (bounds memory too)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="gunicorn workers per server (make run uses 2)"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        help="runplane's RUNPLANE_LOG_LEVEL (INFO, the default, logs every request)",
    )
    parser.add_argument(
        "--data-root", type=Path, default=None, help="where the temp data dirs go (default: $TMPDIR)"
    )
    parser.add_argument(
        "--bare-records",
        choices=("task", "all"),
        default="task",
        help="what the bare app's POST writes: the task row only (the goal's baseline), or also the "
        "event and audit link runplane records of every submission (bench/bare_app.py)",
    )
    parser.add_argument("--keep-data", action="store_true", help="keep the data dirs and server logs")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    for name in ("connections", "rounds", "max_requests", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 < args.duration <= 600 or not 0 <= args.warmup <= 60:
        parser.error("--duration must be in (0, 600] and --warmup in [0, 60]")

    result = measure(args)
    report(result)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for path in filter(None, [RESULTS_DIR / f"api_load-{stamp}.json", args.json]):
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"figures written to {path}")
    failed = sum(summary["errors"] for summary in result["summaries"])
    if failed:
        print(f"\nFAILED: {failed} request(s) got no 2xx answer (see statuses above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
