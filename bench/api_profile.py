"""The API's fixed cost per request, in one process, without HTTP: runplane's ASGI app against bench/bare_app.py.

    .venv/bin/python bench/api_profile.py                       # both apps, SQLite: CPU µs per request
    .venv/bin/python bench/api_profile.py --postgres            # the same on fresh PostgreSQL databases too
    .venv/bin/python bench/api_profile.py --interleaved         # both apps in one process, alternating
    .venv/bin/python bench/api_profile.py --app runplane --profile get --top 40   # where a GET's time goes

Each app runs in a process of its own (a subprocess per app and database), built the way a gunicorn worker
builds it (`runplane.app.create_app()` with RUNPLANE_* settings; `bare_app:app`), its lifespan started,
and is then called directly as an ASGI app, one request after another, on uvloop: no sockets, no HTTP
parsing, no client sharing the process. For each operation (`GET /healthz`, `GET /v1/tasks/{id}`, `POST
/v1/tasks`) a warm-up, then `--requests` measured calls; the figure is the process's CPU time (all its
threads, so aiosqlite's thread counts) per request. Every answer must be 2xx, else the run fails.

``--interleaved`` runs both apps in one process instead (each with its own database, as before), in
alternating blocks of ``--block`` requests, the first app of each block alternating too: on a shared
machine whose speed drifts by tens of percent within a minute, the two figures then come from the same
seconds, and the ratio holds still where two processes measured one after the other do not. What it
costs: the two apps share a process, so runplane's background loops (scheduler, reaper, checkpoint; not
measured apart) are charged to whichever block is running, a garbage collection set off in one app's
block walks the other's objects too, and module-level caches are shared. Beside the CPU, each figure has
the process's voluntary context switches per request (``getrusage``, all threads; a preemption by a busy
machine is not counted): a trip to aiosqlite's thread and back is about two, so it counts the trips.

What it leaves out is what both servers pay alike (uvicorn's HTTP parsing, the socket), so its ratios are
higher than `api_load.py`'s, where that common cost dilutes them; what it adds is a repeatable figure on a
shared machine and, with `--profile`, a cProfile of one operation (main thread only: the SQLite work done in
aiosqlite's thread is not in it, the time waiting for it is).

runplane runs as `api_load.py` runs it: admin key set, the rate limiter on with a budget that never refuses,
log level INFO with the JSON access line per request (written to a file in the data directory, so the
formatting is paid as in production).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import itertools
import json
import logging
import os
import pstats
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
RATE_LIMIT = "1000000000/minute"
OPERATIONS = ("healthz", "get", "post")
LABELS = {"healthz": "GET /healthz", "get": "GET /v1/tasks/{id}", "post": "POST /v1/tasks"}

_numbers = itertools.count(1)

Answer = tuple[int, dict[str, str], bytes]


async def call(
    app: Any, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> Answer:
    """One HTTP request through the ASGI app, as uvicorn would hand it over; (status, headers, body)."""
    raw_headers = [(b"host", b"127.0.0.1:8000")]
    raw_headers += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    if body:
        raw_headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # never: a disconnect only comes when the client goes
        raise AssertionError

    status = 0
    answer_headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            answer_headers.update((k.decode().lower(), v.decode()) for k, v in message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, answer_headers, b"".join(chunks)


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> Any:
    """The app's ASGI lifespan: started on entry, shut down on exit."""
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send(message: dict[str, Any]) -> None:
        await from_app.put(message)

    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, to_app.get, send)
    )
    await to_app.put({"type": "lifespan.startup"})
    started = await from_app.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"startup failed: {started}")
    try:
        yield
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await from_app.get()
        await task


def _post_body() -> bytes:
    number = next(_numbers)
    return b'{"job_name":"bench-%d","entrypoint":"echo %d","priority":5}' % (number, number)


def _quiet_logs(log_path: Path) -> None:
    """Keeps every handler (so lines are formatted as in production) but writes them to a file."""
    stream = log_path.open("a")
    for logger in [
        logging.getLogger(),
        *(logging.getLogger(name) for name in logging.root.manager.loggerDict),
    ]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                handler.setStream(stream)


@contextlib.asynccontextmanager
async def _opened(kind: str, data_dir: Path) -> AsyncIterator[Any]:
    """One app (``runplane`` or ``bare``) built from the RUNPLANE_* environment, its lifespan started and
    one task created; yields ``one(operation)``, a coroutine function making one request of that kind."""
    if kind == "runplane":
        from runplane.app import create_app
        from runplane.settings import Settings

        app: Any = create_app(Settings())
        admin = {"X-API-Key": os.environ["RUNPLANE_ADMIN_KEY"]}
        _quiet_logs(data_dir / "server.log")
    else:
        sys.path.insert(0, str(BENCH_DIR))
        import bare_app

        app = bare_app.app
    async with lifespan(app):
        if kind == "runplane":
            status, _, body = await call(
                app, "POST", "/v1/keys", admin, json.dumps({"name": "bench", "role": "user"}).encode()
            )
            assert status == 201, (status, body)
            key = json.loads(body)["key"]
        else:
            key = os.environ["BENCH_KEY"]
        auth = {"X-API-Key": key}
        status, _, body = await call(
            app, "POST", "/v1/tasks", auth, b'{"job_name":"target","entrypoint":"true"}'
        )
        assert status == 201, (status, body)
        task_path = "/v1/tasks/" + json.loads(body)["id"]

        async def one(operation: str) -> Answer:
            if operation == "healthz":
                return await call(app, "GET", "/healthz")
            if operation == "get":
                return await call(app, "GET", task_path, auth)
            return await call(app, "POST", "/v1/tasks", auth, _post_body())

        yield one


def _check(kind: str, operation: str, statuses: dict[int, int]) -> None:
    bad = {code: n for code, n in statuses.items() if not 200 <= code < 300}
    if bad:
        raise RuntimeError(f"{kind} {operation}: non-2xx answers {bad}")


def _blocks(args: argparse.Namespace) -> int:
    """Blocks per app with --interleaved: an even number, so each app goes first equally often."""
    return int(args.requests // args.block // 2 * 2)


def _switches() -> int:
    """Voluntary context switches of this process so far, all its threads (a thread that waits): each trip
    to aiosqlite's thread and back is about two. Preemptions are left out: they count the machine's load."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw


async def _serve_one(args: argparse.Namespace) -> dict[str, Any]:
    async with _opened(args.app, Path(args.data_dir)) as one:
        figures: dict[str, Any] = {}
        for operation in args.operations:
            for _ in range(args.warmup):
                await one(operation)
            profiler = cProfile.Profile() if args.profile == operation else None
            statuses: dict[int, int] = {}
            cpu_before, wall_before, switches_before = time.process_time(), time.perf_counter(), _switches()
            if profiler is not None:
                profiler.enable()
            for _ in range(args.requests):
                status, _, _ = await one(operation)
                statuses[status] = statuses.get(status, 0) + 1
            if profiler is not None:
                profiler.disable()
            cpu, wall = time.process_time() - cpu_before, time.perf_counter() - wall_before
            _check(args.app, operation, statuses)
            figures[operation] = {
                "cpu_us": cpu / args.requests * 1e6,
                "wall_us": wall / args.requests * 1e6,
                "switches": (_switches() - switches_before) / args.requests,
            }
            if profiler is not None:
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out)
                stats.sort_stats(args.sort).print_stats(args.top)
                figures["profile"] = out.getvalue()
                if args.profile_out:
                    stats.dump_stats(args.profile_out)
    return {args.app: figures}


async def _serve_pair(args: argparse.Namespace) -> dict[str, Any]:
    """Both apps in this one process, measured in alternating blocks of ``--block`` requests (which app
    goes first alternates too), so that the machine's drift falls on both alike."""
    ours_env = {name: os.environ.get(name) for name in ("RUNPLANE_DATA_DIR", "RUNPLANE_DATABASE_URL")}
    # bare_app reads its settings from the environment when imported: point it at its own database.
    os.environ["RUNPLANE_DATA_DIR"] = os.environ["BARE_DATA_DIR"]
    if "BARE_DATABASE_URL" in os.environ:
        os.environ["RUNPLANE_DATABASE_URL"] = os.environ["BARE_DATABASE_URL"]
    async with contextlib.AsyncExitStack() as stack:
        bare = await stack.enter_async_context(_opened("bare", Path(os.environ["BARE_DATA_DIR"])))
        for name, value in ours_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        ours = await stack.enter_async_context(_opened("runplane", Path(args.data_dir)))
        apps = {"runplane": ours, "bare": bare}
        figures: dict[str, dict[str, Any]] = {"runplane": {}, "bare": {}}
        for operation in args.operations:
            for _ in range(args.warmup):
                for one in apps.values():
                    await one(operation)
            cpu = dict.fromkeys(apps, 0.0)
            switches = dict.fromkeys(apps, 0)
            statuses: dict[str, dict[int, int]] = {kind: {} for kind in apps}
            blocks = _blocks(args)
            for index in range(blocks):
                order = ("runplane", "bare") if index % 2 == 0 else ("bare", "runplane")
                for kind in order:
                    one = apps[kind]
                    cpu_before, switches_before = time.process_time(), _switches()
                    for _ in range(args.block):
                        status, _, _ = await one(operation)
                        statuses[kind][status] = statuses[kind].get(status, 0) + 1
                    cpu[kind] += time.process_time() - cpu_before
                    switches[kind] += _switches() - switches_before
            for kind in apps:
                _check(kind, operation, statuses[kind])
                count = blocks * args.block
                figures[kind][operation] = {
                    "cpu_us": cpu[kind] / count * 1e6,
                    "switches": switches[kind] / count,
                }
    return figures


@contextlib.contextmanager
def fresh_postgres(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (dropped after); its SQLAlchemy URL."""
    import psycopg
    from psycopg import sql

    name = f"rp_profile_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{admin_url.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _prepared(kind: str, data_dir: Path, database_url: str | None) -> dict[str, str]:
    """A migrated database for one app, and the environment that app needs (its key, its settings)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("RUNPLANE_")}
    env.update(RUNPLANE_DATA_DIR=str(data_dir), RUNPLANE_LOG_LEVEL="INFO")
    if database_url:
        env["RUNPLANE_DATABASE_URL"] = database_url
    runplane = [sys.executable, "-m", "runplane.cli"]
    subprocess.run([*runplane, "migrate"], env=env, check=True, capture_output=True, cwd=REPO_ROOT)
    if kind == "runplane":
        env.update(
            RUNPLANE_ADMIN_KEY="rp_bench-admin-" + secrets.token_hex(16), RUNPLANE_RATE_LIMIT=RATE_LIMIT
        )
    else:
        env["BENCH_KEY"] = subprocess.run(
            [*runplane, "keys", "create", "--local", "--role", "user", "--name", "bench"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
        ).stdout.strip()
    return env


def run_child(app: str, database_urls: dict[str, str | None], args: argparse.Namespace) -> dict[str, Any]:
    """One app (or, ``pair``, both) in a fresh process, each app with its own data directory and the
    database ``database_urls`` gives it (None: a SQLite file there); figures by app."""
    kinds = ("runplane", "bare") if app == "pair" else (app,)
    data_dirs = {kind: Path(tempfile.mkdtemp(prefix=f"rp-profile-{kind}-")) for kind in kinds}
    try:
        envs = {kind: _prepared(kind, data_dirs[kind], database_urls.get(kind)) for kind in kinds}
        env = envs[kinds[0]]
        if app == "pair":  # runplane's environment, and where the bare app's database is
            env["BARE_DATA_DIR"] = envs["bare"]["RUNPLANE_DATA_DIR"]
            env["BENCH_KEY"] = envs["bare"]["BENCH_KEY"]
            if "RUNPLANE_DATABASE_URL" in envs["bare"]:
                env["BARE_DATABASE_URL"] = envs["bare"]["RUNPLANE_DATABASE_URL"]
        command = [
            sys.executable,
            __file__,
            "--child",
            *(("--pair",) if app == "pair" else ("--app", app)),
            "--data-dir",
            str(data_dirs[kinds[0]]),
            "--requests",
            str(args.requests),
            "--warmup",
            str(args.warmup),
            "--block",
            str(args.block),
            "--operations",
            *args.operations,
        ]
        if args.profile:
            command += ["--profile", args.profile, "--top", str(args.top), "--sort", args.sort]
            if args.profile_out:
                command += ["--profile-out", str(args.profile_out)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO_ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"{app} failed:\n{done.stderr[-4000:]}")
        figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return figures
    finally:
        for data_dir in data_dirs.values():
            shutil.rmtree(data_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--app", choices=("both", "runplane", "bare"), default="both")
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per operation")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured requests before each operation")
    parser.add_argument("--operations", nargs="+", choices=OPERATIONS, default=list(OPERATIONS))
    parser.add_argument(
        "--interleaved",
        action="store_true",
        help="both apps in one process, measured in alternating blocks (steadier on a noisy machine)",
    )
    parser.add_argument("--block", type=int, default=50, help="requests per block with --interleaved")
    parser.add_argument("--postgres", action="store_true", help="also on fresh PostgreSQL databases")
    parser.add_argument("--postgres-only", action="store_true", help="only on fresh PostgreSQL databases")
    parser.add_argument("--postgres-admin-url", default=POSTGRES_ADMIN_URL)
    parser.add_argument("--profile", choices=OPERATIONS, default=None, help="cProfile this operation")
    parser.add_argument("--top", type=int, default=40, help="functions shown by --profile")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key (cumulative, tottime, ...)")
    parser.add_argument("--profile-out", type=Path, default=None, help="also write the raw profile here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pair", action="store_true", help=argparse.SUPPRESS)  # a child of --interleaved
    parser.add_argument("--data-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.interleaved and (args.profile or args.app != "both"):
        parser.error("--interleaved measures both apps and profiles neither")
    if args.block < 1 or args.requests < 2 * args.block:
        parser.error("--block must be at least 1, and --requests at least twice --block")
    # SIGTERM (a timeout of bench/run_all.py) unwinds like an error: the child is killed by
    # subprocess.run, and the data directories and PostgreSQL databases are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    if args.child:
        import uvloop

        serve = _serve_pair if args.pair else _serve_one
        print(json.dumps(uvloop.run(serve(args))))
        return 0

    children = ("pair",) if args.interleaved else ("runplane", "bare") if args.app == "both" else (args.app,)
    databases = [] if args.postgres_only else ["sqlite"]
    if args.postgres or args.postgres_only:
        databases.append("postgres")
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for database in databases:
        for child in children:
            kinds = ("runplane", "bare") if child == "pair" else (child,)
            with contextlib.ExitStack() as stack:
                urls: dict[str, str | None] = {
                    kind: stack.enter_context(fresh_postgres(args.postgres_admin_url))
                    if database == "postgres"
                    else None
                    for kind in kinds
                }
                for kind, figures in run_child(child, urls, args).items():
                    results[(database, kind)] = figures
                    profile = figures.pop("profile", None)
                    if profile:
                        print(f"--- {kind} on {database}: cProfile of {LABELS[args.profile]} ---\n{profile}")
    if args.profile:
        return 0
    measured = _blocks(args) * args.block if args.interleaved else args.requests
    how = f"interleaved in blocks of {args.block}" if args.interleaved else "one process per app"
    print(f"CPU µs per request, {how}, {measured} requests per operation (after {args.warmup}):")
    print(
        f"  {'database':<9} {'operation':<20} {'runplane':>9} {'bare':>9} {'ratio':>7}"
        f"   voluntary context switches per request, runplane / bare"
    )
    for database in databases:
        for operation in args.operations:
            ours = results.get((database, "runplane"), {}).get(operation, {})
            bare = results.get((database, "bare"), {}).get(operation, {})
            ours_cpu, bare_cpu = ours.get("cpu_us"), bare.get("cpu_us")
            ratio = f"{ours_cpu / bare_cpu:.2f}x" if ours_cpu and bare_cpu else "-"
            print(
                f"  {database:<9} {LABELS[operation]:<20} {ours_cpu or float('nan'):9.0f} "
                f"{bare_cpu or float('nan'):9.0f} {ratio:>7}"
                f"   {ours.get('switches', float('nan')):.1f} / {bare.get('switches', float('nan')):.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
