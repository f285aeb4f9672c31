"""Live-event fan-out: many WebSocket subscribers while tasks run; delivery latency of task events.

    .venv/bin/python bench/fanout.py                       # defaults: 500 subscribers, about a minute
    .venv/bin/python bench/fanout.py --subscribers 100 --tasks 10
    .venv/bin/python bench/fanout.py --database-url postgresql://postgres@127.0.0.1/rp_bench

A runplane server (`runplane serve --workers N`, a fresh temporary data directory, SQLite unless a database
URL is given) on 127.0.0.1. Two scenarios, each with fresh subscribers:

* `healthy`: every subscriber reads as fast as it can.
* `one stalled`: the same, plus one more client that subscribes to everything and never reads its socket.
  It connects as another user, and while the tasks run `--stall-filler-mb` of large events are written
  for that user alone (tenancy keeps them from the 500): loopback socket buffers hold megabytes, and only
  once they are full does a client that never reads fall behind its queue and get dropped.

Subscribers are spread over several client processes (`--client-procs`), each holding its share of the
WebSockets (asyncio, `websockets`), all connected with one user's key and subscribed to `*`. Once all are
subscribed, this process acts as a worker agent over the HTTP API: it registers a worker, submits
`--tasks` tasks as that user, and runs them concurrently: claim, running, `--progress-steps` progress
reports `--report-interval` seconds apart, collecting, completed. Every task event (task_update,
task_progress, task_complete) the subscribers receive is timed from the event's own `ts` (stamped by the
server when it wrote the event, in the transaction of the change) to the moment the subscriber's client
process parsed it: commit, the hub's read of the log, fan-out, the socket and the client all count. A
scenario ends when every subscriber has seen every task's `task_complete` (or at `--timeout`).

Printed per scenario: events written, deliveries (events x subscribers), deliveries missing, latency
p50/p90/p99/max, and the run's wall time; for the stalled scenario, whether the server dropped the stalled
client (its log line) and how many bytes it left unread. The figures go to bench/results/ as JSON too.

Client and server share the machine's cores: the client processes' own parsing delay is in the figures.
Loopback only; every wait is bounded by `--timeout`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from runplane.settings import Settings

SCRIPT = Path(__file__).resolve()
BENCH_DIR = SCRIPT.parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
HOST = "127.0.0.1"  # loopback only
READY_TIMEOUT_S = 90.0
TASK_TOPICS = ("task_update", "task_progress", "task_complete")
STALL_USER = "fanout-stall"


# --- the client processes -----------------------------------------------------------------------------


async def client_main(url: str, key: str, count: int, tasks: int, limit_s: float) -> None:
    """Holds `count` subscribers; prints READY once all are subscribed, then one JSON line of results."""
    from websockets.asyncio.client import connect

    sockets = []
    for _ in range(count):
        ws = await connect(
            url,
            additional_headers={"X-API-Key": key},
            open_timeout=limit_s,
            max_size=None,
            compression=os.environ.get("FANOUT_COMPRESSION", "deflate") or None,
        )
        await ws.send('{"type":"subscribe","message_types":["*"]}')
        reply = json.loads(await asyncio.wait_for(ws.recv(), limit_s))
        assert reply["type"] == "subscribed", reply
        sockets.append(ws)
    print("READY", flush=True)

    latencies: list[float] = []
    received: list[int] = []
    complete: list[int] = []

    async def listen(ws: Any) -> None:
        seen = completes = 0
        async for raw in ws:
            now = time.time()
            message = json.loads(raw)
            kind = message.get("type")
            if kind not in TASK_TOPICS:
                continue
            latencies.append(now - datetime.fromisoformat(message["ts"]).timestamp())
            seen += 1
            if kind == "task_complete":
                completes += 1
                if completes >= tasks:
                    break
        received.append(seen)
        complete.append(completes)

    listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
    await asyncio.wait(listeners, timeout=limit_s)
    for task in listeners:
        task.cancel()
    for ws in sockets:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 5)
    print(
        json.dumps(
            {
                "latencies": latencies,
                "received": received,
                "finished": sum(1 for c in complete if c >= tasks),
                "subscribers": count,
                "cpu_s": time.process_time(),
            }
        ),
        flush=True,
    )


# --- the server -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    admin_key: str

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the gunicorn master and its workers so far."""
        master = psutil.Process(self.process.pid)
        total = 0.0
        for process in [master, *master.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)


def start_server(data_dir: Path, workers: int, database_url: str | None, extra_env: dict[str, str]) -> Server:
    admin_key = "rp_bench-admin-" + secrets.token_hex(16)
    env = {name: value for name, value in os.environ.items() if not name.startswith("RUNPLANE_")}
    env.update(
        RUNPLANE_DATA_DIR=str(data_dir),
        RUNPLANE_ADMIN_KEY=admin_key,
        RUNPLANE_RATE_LIMIT="1000000000/minute",
        RUNPLANE_LEASE_SECONDS="3600",
        RUNPLANE_LOG_LEVEL="WARNING",
    )
    if database_url:
        env["RUNPLANE_DATABASE_URL"] = database_url
    env.update(extra_env)
    port = free_port()
    log_path = data_dir / "server.log"
    command = [sys.executable, "-m", "runplane.cli", "serve", "--host", HOST, "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(port, process, log_path, admin_key)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()[-4000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(server.base_url + "/readyz", timeout=2).status_code == 200:
                return server
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"server not ready in {READY_TIMEOUT_S}s:\n{server.log()[-4000:]}")
        time.sleep(0.1)


def create_key(server: Server, name: str, role: str, user_id: str | None = None) -> str:
    answer = httpx.post(
        server.base_url + "/v1/keys",
        headers={"X-API-Key": server.admin_key},
        json={"name": name, "role": role, **({"user_id": user_id} if user_id else {})},
        timeout=30,
    )
    answer.raise_for_status()
    key: str = answer.json()["key"]
    return key


# --- a stalled client: subscribes, then never reads --------------------------------------------------


class StalledClient:
    def __init__(self, port: int, key: str) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=30)
        nonce = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /ws HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\nX-API-Key: {key}\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)  # byte by byte: nothing past the handshake is read
            if not chunk:
                raise RuntimeError("stalled client: connection closed during the handshake")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"stalled client refused: {head!r}")
        payload = b'{"type":"subscribe","message_types":["*"]}'
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)

    def unread_bytes(self) -> int:
        """What the kernel holds for it (read now, without waiting)."""
        total = 0
        self.sock.setblocking(False)
        for _ in range(100_000):  # bounded: at most ~6 GB at 64 KiB a read
            try:
                chunk = self.sock.recv(65536)
            except (BlockingIOError, ConnectionResetError):
                break
            if not chunk:
                break
            total += len(chunk)
        return total

    def close(self) -> None:
        self.sock.close()


# --- driving tasks as a worker agent ----------------------------------------------------------------


async def drive_tasks(server: Server, user_key: str, worker_key: str, args: argparse.Namespace) -> list[str]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=args.timeout) as http:
        worker = {"X-API-Key": worker_key}
        registration = {
            "name": f"bench-{secrets.token_hex(3)}",
            "hostname": "bench.local",
            "version": "bench",
            "slots": args.tasks,
            "capabilities": {"cpu_cores": 4096, "memory_gb": 65536, "gpus": []},
        }
        answer = await http.post("/v1/workers", headers=worker, json=registration)
        answer.raise_for_status()
        worker_id = answer.json()["worker_id"]

        async def one(index: int) -> str:
            answer = await http.post(
                "/v1/tasks",
                headers={"X-API-Key": user_key},
                json={"job_name": f"fanout-{index}", "entrypoint": "python train.py", "cpu": 1},
            )
            answer.raise_for_status()
            claim = await http.post(
                f"/v1/workers/{worker_id}/claim",
                headers=worker,
                json={"free_slots": 1, "free_cpu": 4096, "free_memory_gb": 65536, "free_gpus": 0},
            )
            claim.raise_for_status()
            assignment = claim.json()["assignment"]
            if assignment is None:
                raise RuntimeError("nothing to claim")
            task_id: str = assignment["task_id"]
            path = f"/v1/workers/{worker_id}/tasks/{task_id}/report"
            reports: list[dict[str, Any]] = [{"status": "running"}]
            reports += [
                {
                    "progress": round(100 * (step + 1) / (args.progress_steps + 1), 1),
                    "message": f"step {step}",
                }
                for step in range(args.progress_steps)
            ]
            reports += [{"status": "collecting"}, {"status": "completed", "progress": 100}]
            for body in reports:
                await asyncio.sleep(args.report_interval)
                (await http.post(path, headers=worker, json=body)).raise_for_status()
            return task_id

        return list(await asyncio.gather(*(one(index) for index in range(args.tasks))))


async def append_filler(database_url: str, megabytes: float) -> None:
    """Large events for the stalled client's user only (tenancy keeps them from every other subscriber),
    appended while the tasks run, so that its socket buffers fill and the server has to drop it."""
    from runplane import events
    from runplane.store.database import Database

    size = 16_000
    count = int(megabytes * 1_000_000 / size)
    db = Database(database_url)
    try:
        for start in range(0, count, 25):
            async with db.session() as session:
                for index in range(start, min(count, start + 25)):
                    await events.record(
                        session,
                        topic=events.TASK_PROGRESS,
                        task_id="stall-filler",
                        user_id=STALL_USER,
                        data={
                            "task_id": "stall-filler",
                            "progress": 0,
                            "message": "x" * size,
                            "index": index,
                        },
                    )
            await asyncio.sleep(0.05)  # spread over the run rather than one burst
    finally:
        await db.close()


async def count_task_events(database_url: str, task_ids: list[str]) -> int:
    from sqlalchemy import func, select

    from runplane.store.database import Database
    from runplane.store.tables import EventRow

    db = Database(database_url)
    try:
        async with db.reader() as session:
            query = select(func.count()).select_from(EventRow).where(EventRow.task_id.in_(task_ids))
            return int((await session.execute(query)).scalar_one())
    finally:
        await db.close()


# --- a scenario -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    scenario: str
    subscribers: int
    tasks: int
    events: int
    deliveries: int
    missing: int
    finished_subscribers: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    wall_s: float
    server_cpu_s: float
    client_cpu_s: float
    stalled: dict[str, Any] = field(default_factory=dict)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


async def scenario(
    name: str,
    server: Server,
    keys: dict[str, str],
    database_url: str,
    args: argparse.Namespace,
    stalled: bool,
) -> Outcome:
    procs = max(1, min(args.client_procs, args.subscribers))
    shares = [args.subscribers // procs + (1 if i < args.subscribers % procs else 0) for i in range(procs)]
    url = server.base_url.replace("http://", "ws://") + "/ws"
    clients = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            "--client",
            url,
            str(share),
            str(args.tasks),
            str(args.timeout),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            env={
                **os.environ,
                "FANOUT_KEY": keys["user"],
                "FANOUT_COMPRESSION": "deflate" if args.compression else "",
            },
            cwd=REPO_ROOT,
        )
        for share in shares
    ]
    stalled_client: StalledClient | None = None
    try:
        async with asyncio.timeout(args.timeout):
            for client in clients:
                assert client.stdout is not None
                line = await client.stdout.readline()
                if line.strip() != b"READY":
                    raise RuntimeError(f"a client process failed to subscribe: {line!r}")
        if stalled:
            stalled_client = await asyncio.to_thread(StalledClient, server.port, keys["stall"])
        dropped_before = server.log().count("live client dropped")
        server_cpu = server.cpu_seconds()
        started = time.monotonic()
        driving = drive_tasks(server, keys["user"], keys["worker"], args)
        if stalled and args.stall_filler_mb > 0:
            task_ids, _ = await asyncio.gather(driving, append_filler(database_url, args.stall_filler_mb))
        else:
            task_ids = await driving
        results = []
        async with asyncio.timeout(args.timeout + 30):
            for client in clients:
                assert client.stdout is not None
                results.append(json.loads(await client.stdout.read()))  # its last line, to EOF
                await client.wait()
        wall = time.monotonic() - started
        server_cpu = server.cpu_seconds() - server_cpu
    finally:
        for client in clients:
            if client.returncode is None:
                client.kill()
                await client.wait()
    latencies = [value for result in results for value in result["latencies"]]
    events = await count_task_events(database_url, task_ids)
    deliveries = sum(sum(result["received"]) for result in results)
    outcome = Outcome(
        scenario=name,
        subscribers=args.subscribers,
        tasks=args.tasks,
        events=events,
        deliveries=deliveries,
        missing=events * args.subscribers - deliveries,
        finished_subscribers=sum(result["finished"] for result in results),
        p50_ms=round(1000 * percentile(latencies, 0.50), 1),
        p90_ms=round(1000 * percentile(latencies, 0.90), 1),
        p99_ms=round(1000 * percentile(latencies, 0.99), 1),
        max_ms=round(1000 * max(latencies, default=float("nan")), 1),
        wall_s=round(wall, 1),
        server_cpu_s=round(server_cpu, 2),
        client_cpu_s=round(sum(result["cpu_s"] for result in results), 2),
    )
    if stalled_client is not None:
        dropped = server.log().count("live client dropped") - dropped_before
        outcome.stalled = {"dropped_by_server": dropped > 0, "unread_bytes": stalled_client.unread_bytes()}
        stalled_client.close()
    return outcome


def show(outcomes: list[Outcome]) -> None:
    header = f"{'scenario':<12} {'subs':>5} {'tasks':>5} {'events':>6} {'deliveries':>10} {'missing':>7} "
    header += (
        f"{'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7} {'wall s':>6} {'srv cpu':>7} {'cli cpu':>7}"
    )
    print(header)
    for o in outcomes:
        print(
            f"{o.scenario:<12} {o.subscribers:>5} {o.tasks:>5} {o.events:>6} {o.deliveries:>10} {o.missing:>7} "
            f"{o.p50_ms:>7} {o.p90_ms:>7} {o.p99_ms:>7} {o.max_ms:>7} {o.wall_s:>6} "
            f"{o.server_cpu_s:>7} {o.client_cpu_s:>7}"
        )
        if o.stalled:
            state = (
                "dropped by the server" if o.stalled["dropped_by_server"] else "still connected (not dropped)"
            )
            print(
                f"{'':<12} stalled client: {state}; {o.stalled['unread_bytes']} bytes left unread in its socket"
            )


async def bench(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="runplane-fanout-") as tmp:
        data_dir = Path(tmp)
        extra_env = dict(item.split("=", 1) for item in args.server_env)
        server = await asyncio.to_thread(start_server, data_dir, args.workers, args.database_url, extra_env)
        try:
            suffix = secrets.token_hex(3)  # a reused database keeps the keys of earlier runs
            keys = {
                "user": create_key(server, f"fanout-user-{suffix}", "user"),
                "worker": create_key(server, f"fanout-worker-{suffix}", "worker"),
                "stall": create_key(server, f"fanout-stall-{suffix}", "user", STALL_USER),
            }
            database_url = Settings(data_dir=data_dir, database_url=args.database_url).sqlalchemy_url
            outcomes = [
                await scenario("healthy", server, keys, database_url, args, stalled=False),
                await scenario("one stalled", server, keys, database_url, args, stalled=True),
            ]
        finally:
            server.stop()
    print(
        f"fan-out: {args.subscribers} WebSocket subscribers (+1 stalled in the second run), "
        f"{args.workers} server processes, {'PostgreSQL' if args.database_url else 'SQLite'}, "
        f"{os.cpu_count()} cores; latency = event ts (server, at write) -> parsed by a subscriber"
    )
    show(outcomes)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS_DIR / f"fanout-{stamp}.json").write_text(
        json.dumps(
            {
                "when": stamp,
                "machine": {"platform": platform.platform(), "cores": os.cpu_count()},
                "settings": {k: v for k, v in vars(args).items() if k != "client"},
                "outcomes": [asdict(o) for o in outcomes],
            },
            indent=2,
        )
    )
    return 0 if all(o.missing == 0 and o.finished_subscribers == o.subscribers for o in outcomes) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument(
        "--client-procs", type=int, default=4, help="client processes holding the subscribers"
    )
    parser.add_argument("--workers", type=int, default=2, help="server processes (gunicorn workers)")
    parser.add_argument("--tasks", type=int, default=10, help="tasks run concurrently per scenario")
    parser.add_argument("--progress-steps", type=int, default=8, help="progress reports per task")
    parser.add_argument(
        "--report-interval", type=float, default=0.25, help="seconds between a task's reports"
    )
    parser.add_argument(
        "--database-url", default=None, help="a PostgreSQL URL (default: SQLite in a temp dir)"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="bound on each phase, seconds")
    parser.add_argument(
        "--stall-filler-mb",
        type=float,
        default=16.0,
        help="MB of large events for the stalled client's user alone, so that it falls behind (0: none)",
    )
    parser.add_argument(
        "--compression",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="subscribers negotiate permessage-deflate, as browsers do (the server then compresses per socket)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a RUNPLANE_* setting for the server",
    )
    parser.add_argument(
        "--client", nargs=4, metavar=("URL", "COUNT", "TASKS", "TIMEOUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.client:
        url, count, tasks, timeout = args.client
        asyncio.run(client_main(url, os.environ["FANOUT_KEY"], int(count), int(tasks), float(timeout)))
        return 0
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
