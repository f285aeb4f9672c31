"""What an idle API server costs: CPU per second of `runplane serve` with no request at all.

    .venv/bin/python bench/idle.py                 # SQLite: about 1 minute
    .venv/bin/python bench/idle.py --postgres      # the same, then on a fresh PostgreSQL database
    .venv/bin/python bench/idle.py --seconds 60 --workers 1

Starts `runplane serve --workers N` (default 2, as the README runs it) on a fresh data directory and,
beside it in the same run, `bench/bare_app.py` under runplane's own gunicorn command line (a Starlette app
with no background work: the floor that gunicorn and uvicorn cost while idle). After a settling pause
(`--settle`, the start's own work is not idle cost) both are left alone for `--seconds` while the CPU
(user + system) of each of their processes is read, and of the PostgreSQL backends serving runplane's
database. Printed: CPU milliseconds per second for each gunicorn worker (one API process each), the
master, and the database; the machine's load average before the run. Loopback only, every wait bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import api_load
import psutil
from api_load import RESULTS_DIR, Server, machine, start_bare, table
from dispatch import database_cpu_seconds, database_name, fresh_postgres, start_server

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


# The bare app's set-up commands (api_load.start_bare) may take longer on a busy shared machine.
api_load.CLI_TIMEOUT_S = 600.0


def cpu_of(process: psutil.Process) -> float:
    with contextlib.suppress(psutil.Error):
        times = process.cpu_times()
        return times.user + times.system
    return 0.0


def idle_figures(server: Server, seconds: float, database: str | None) -> dict[str, Any]:
    """CPU ms per second over `seconds` of the server's master, each worker, and its database's backends."""
    master, workers = server.master(), server.workers()
    before = [cpu_of(process) for process in [master, *workers]]
    database_before = database_cpu_seconds(database)
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    after = [cpu_of(process) for process in [master, *workers]]
    database_after = database_cpu_seconds(database)
    per_second = [round((b - a) * 1000 / elapsed, 2) for a, b in zip(before, after, strict=True)]
    return {
        "seconds": round(elapsed, 1),
        "master_ms_per_s": per_second[0],
        "worker_ms_per_s": per_second[1:],
        "worker_mean_ms_per_s": round(sum(per_second[1:]) / max(1, len(per_second) - 1), 2),
        "database_ms_per_s": round((database_after - database_before) * 1000 / elapsed, 2),
    }


def run(args: argparse.Namespace, label: str, database_url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rp-idle-") as root:
        runplane_dir, bare_dir = Path(root, "runplane"), Path(root, "bare")
        runplane_dir.mkdir()
        bare_dir.mkdir()
        runplane = start_server(
            runplane_dir, server_workers=args.workers, database_url=database_url, log_level="INFO"
        )
        try:
            bare = start_bare(bare_dir, workers=args.workers)
            try:
                time.sleep(args.settle)
                figures = {
                    "runplane": idle_figures(runplane, args.seconds, database_name(database_url)),
                    "bare": idle_figures(bare, args.seconds, None),
                }
            finally:
                bare.stop()
        finally:
            runplane.stop()
    return {"database": label, **figures}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="idle time measured per server")
    parser.add_argument("--settle", type=float, default=5.0, help="pause after the start, not measured")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each server")
    parser.add_argument("--postgres", action="store_true", help="also run on a fresh PostgreSQL database")
    parser.add_argument("--postgres-admin-url", default=POSTGRES_ADMIN_URL)
    args = parser.parse_args()

    result: dict[str, Any] = {"machine": machine(), "runs": []}
    result["runs"].append(run(args, "sqlite", None))
    if args.postgres:
        with fresh_postgres(args.postgres_admin_url) as url:
            result["runs"].append(run(args, "postgresql", url))
    result["machine"]["loadavg_after"] = [round(value, 2) for value in os.getloadavg()]

    rows = []
    for entry in result["runs"]:
        for server in ("runplane", "bare"):
            figures = entry[server]
            rows.append(
                [
                    entry["database"],
                    server,
                    f"{figures['worker_mean_ms_per_s']:.1f}",
                    " ".join(f"{value:.1f}" for value in figures["worker_ms_per_s"]),
                    f"{figures['master_ms_per_s']:.1f}",
                    f"{figures['database_ms_per_s']:.1f}" if server == "runplane" else "-",
                ]
            )
    print(
        f"load average before {result['machine']['loadavg_before']}, after {result['machine']['loadavg_after']}"
    )
    print(
        table(
            ["database", "server", "per worker (mean)", "each worker", "master", "database backends"],
            rows,
        )
    )
    print("CPU ms per second while idle (no request)")
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS_DIR / f"idle-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
