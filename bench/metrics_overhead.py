"""What the HTTP metrics middleware costs: `GET /healthz` on runplane with and without it.

    .venv/bin/python bench/metrics_overhead.py                 # defaults: about a minute
    .venv/bin/python bench/metrics_overhead.py --rounds 6 --duration 8

Two servers side by side on 127.0.0.1, each runplane's own gunicorn command line with one worker and
PROMETHEUS_MULTIPROC_DIR set (as `runplane serve` runs it, so every count is an mmap write): one serves
`runplane.asgi:app`, the other `metrics_off_app:app` (the same app with `MetricsMiddleware` removed).
Rounds alternate which server goes first. Reported per server: requests per second and the server's
CPU time per request (the figure least disturbed by the client sharing the machine's cores).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
from pathlib import Path

import api_load
import loadgen

LOG_LEVEL = "WARNING"  # no access-log line per request: the middleware's share is not diluted by it


def start(label: str, target: str, root: Path) -> api_load.Server:
    data_dir = root / label
    metrics_dir = data_dir / "prometheus"
    metrics_dir.mkdir(parents=True)
    env = api_load.clean_env(
        RUNPLANE_DATA_DIR=str(data_dir),
        RUNPLANE_LOG_LEVEL=LOG_LEVEL,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    api_load.run_cli(["migrate"], env)
    port = api_load.free_port()
    command = api_load.runplane_gunicorn_command(port, 1)
    command[command.index("runplane.asgi:app")] = target
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(api_load.BENCH_DIR), env.get("PYTHONPATH")]))
    server = api_load._spawn(label, command, env, data_dir, port)
    server.wait_ready("/healthz")
    return server


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.5)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="runplane-metrics-bench-"))
    rps: dict[str, list[float]] = {}
    cpu_us: dict[str, list[float]] = {}
    failed = 0
    servers: list[api_load.Server] = []
    try:
        servers = [start("with", "runplane.asgi:app", root), start("without", "metrics_off_app:app", root)]
        _, loop_factory = loadgen.event_loop_factory()
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            for round_index in range(args.rounds):
                for server in servers if round_index % 2 == 0 else servers[::-1]:
                    scenario = loadgen.Scenario(
                        "healthz", loadgen.get_request(api_load.HOST, server.port, "/healthz")
                    )
                    common = {
                        "connections": args.connections,
                        "max_requests": 10_000_000,
                        "server_processes": server.processes(),
                    }
                    runner.run(
                        loadgen.run_phase(
                            api_load.HOST,
                            server.port,
                            scenario,
                            duration_s=args.warmup,
                            record=False,
                            **common,
                        )
                    )
                    phase = runner.run(
                        loadgen.run_phase(
                            api_load.HOST, server.port, scenario, duration_s=args.duration, **common
                        )
                    )
                    failed += phase.errors
                    rps.setdefault(server.label, []).append(phase.rps)
                    cpu_us.setdefault(server.label, []).append(
                        phase.server_cpu_s / max(phase.requests, 1) * 1e6
                    )
                    print(
                        f"  round {round_index + 1} {server.label:<8} {phase.rps:8.0f} req/s  "
                        f"{cpu_us[server.label][-1]:7.1f} µs server CPU/request  errors {phase.errors}",
                        flush=True,
                    )
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
    print("\nmedian over rounds:")
    for label in ("with", "without"):
        print(
            f"  {label:<8} {statistics.median(rps[label]):8.0f} req/s  {statistics.median(cpu_us[label]):7.1f} µs CPU/request"
        )
    cost_rps = 1 - statistics.median(rps["with"]) / statistics.median(rps["without"])
    cost_cpu = statistics.median(cpu_us["with"]) - statistics.median(cpu_us["without"])
    print(f"  metrics middleware: {cost_rps:+.1%} fewer req/s, {cost_cpu:+.1f} µs server CPU per request")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
