"""SQLite write transactions through `Database.session()`: thread hops, and this process's writers' turns.

    .venv/bin/python bench/sqlite_writes.py                 # about 1 minute
    .venv/bin/python bench/sqlite_writes.py --sessions 400 --concurrency 16 --loop-load 0.5

No server, no HTTP: the store's own engine (`runplane.store.database.Database`) on a fresh SQLite file in a
temporary directory, with runplane's pragmas (WAL, ``busy_timeout=10000``). Three parts, each with its
baseline measured in the same run:

1. **Hops per statement** (one session, no contention): N small ``UPDATE ... RETURNING`` in one write
   session through `Database.session()`, through ``AsyncSession.run_sync`` (the same statements in a sync
   function inside the greenlet), and plain ``sqlite3`` in one thread call (the floor), plus plain
   ``sqlite3`` with one ``asyncio.to_thread`` per statement (the cost of one hop). Printed: µs per
   statement and aiosqlite thread calls (hops) per statement.
2. **Writers of one process**: ``--concurrency`` tasks on one event loop run ``--sessions`` write sessions
   shaped like a claim (a SELECT of a candidate, an ``UPDATE ... RETURNING``, an INSERT of an event row),
   with the write turn (`serialize_writes=True`, what the server uses) and without it (the baseline: only
   SQLite's busy handler). ``--loop-load`` (a fraction) keeps the loop that busy with CPU bursts of 1 ms,
   as HTTP parsing and validation keep a server's loop busy: each hop then waits for a loop iteration.
   Printed: sessions/s, session latency p50/p99, sessions whose first write statement waited more than
   1 ms in SQLite's busy handler and the ms they waited in all, turns queued on the loop.
3. **Writers of two processes** (``serve --workers 2``): part 2 run in two processes at once on one file,
   each with and without its turn; the processes still meet in the busy handler.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from runplane.store.database import Database

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ROWS = 64

_hops = 0
_original_execute = aiosqlite.core.Connection._execute


async def _counted_execute(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
    global _hops
    _hops += 1
    return await _original_execute(self, fn, *args, **kwargs)


aiosqlite.core.Connection._execute = _counted_execute  # type: ignore[method-assign]


def schema(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.executescript(
        """
        CREATE TABLE items (id INTEGER PRIMARY KEY, status TEXT NOT NULL, n INTEGER NOT NULL);
        CREATE TABLE item_events (id INTEGER PRIMARY KEY AUTOINCREMENT, item_id INTEGER, at REAL, body TEXT);
        """
    )
    connection.executemany("INSERT INTO items VALUES (?, 'queued', 0)", [(i,) for i in range(ROWS)])
    connection.commit()
    connection.close()


def url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


UPDATE = "UPDATE items SET n = n + 1 WHERE id = :id RETURNING n"


# Part 1: hops per statement.


async def hops_per_statement(path: Path, statements: int, rounds: int) -> dict[str, dict[str, float]]:
    global _hops
    db = Database(url(path))
    results: dict[str, list[float]] = {}
    hops: dict[str, int] = {}

    async def through_session() -> None:
        async with db.session() as session:
            for i in range(statements):
                (await session.execute(text(UPDATE), {"id": i % ROWS})).scalar_one()

    async def through_run_sync() -> None:
        def work(sync_session: Session) -> None:
            for i in range(statements):
                sync_session.execute(text(UPDATE), {"id": i % ROWS}).scalar_one()

        async with db.session() as session:
            await session.run_sync(work)

    def plain(connection: sqlite3.Connection) -> None:
        for i in range(statements):
            connection.execute("UPDATE items SET n = n + 1 WHERE id = ? RETURNING n", (i % ROWS,)).fetchone()
        connection.commit()

    plain_connection = sqlite3.connect(path, check_same_thread=False)
    plain_connection.execute("PRAGMA busy_timeout=10000")

    async def plain_one_call() -> None:
        await asyncio.to_thread(plain, plain_connection)

    def plain_statement(i: int) -> Any:
        return plain_connection.execute(
            "UPDATE items SET n = n + 1 WHERE id = ? RETURNING n", (i % ROWS,)
        ).fetchone()

    async def plain_hop_each() -> None:
        for i in range(statements):
            await asyncio.to_thread(plain_statement, i)
        await asyncio.to_thread(plain_connection.commit)

    ways: dict[str, Callable[[], Any]] = {
        "sqlite3, 1 thread call per session (floor)": plain_one_call,
        "sqlite3, 1 thread call per statement": plain_hop_each,
        "Database.session() + session.execute": through_session,
        "Database.session() + session.run_sync": through_run_sync,
    }
    for name, way in ways.items():
        await way()  # warm: connections, statement caches
        results[name] = []
        before = _hops
        for _ in range(rounds):
            started = time.perf_counter()
            await way()
            results[name].append((time.perf_counter() - started) / statements * 1e6)
        hops[name] = _hops - before
    plain_connection.close()
    await db.close()
    return {
        name: {
            "us_per_statement": round(statistics.median(times), 1),
            "hops_per_statement": round(hops[name] / (rounds * statements), 2),
        }
        for name, times in results.items()
    }


# Parts 2 and 3: concurrent writers.


async def loop_load(fraction: float, stop: asyncio.Event, spent: list[float]) -> None:
    """Keep the loop `fraction` busy with 1 ms CPU bursts (what request handling does to a server's loop).

    Appends the CPU seconds the bursts took to `spent` (taken off the writers' CPU)."""
    if fraction <= 0:
        return
    burst = 0.001
    while not stop.is_set():
        cpu = time.process_time()
        until = time.perf_counter() + burst
        while time.perf_counter() < until:
            pass
        spent.append(time.process_time() - cpu)
        await asyncio.sleep(burst * (1 - fraction) / fraction)


async def writers(
    path: Path, *, serialize: bool, sessions: int, concurrency: int, load: float
) -> dict[str, Any]:
    db = Database(url(path), pool_size=concurrency, serialize_writes=serialize)
    first_write: dict[int, float] = {}
    waits: list[float] = []

    # The first write statement of a transaction is where SQLite takes its write lock (the pysqlite driver
    # begins the transaction just before it): its duration beyond the statement's own is the busy wait.
    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith(("UPDATE", "INSERT")) and not conn.in_nested_transaction():
            key = id(conn.connection.dbapi_connection)
            if key not in first_write:
                first_write[key] = time.perf_counter()

    @event.listens_for(db.engine.sync_engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        key = id(conn.connection.dbapi_connection)
        started = first_write.get(key)
        if started is not None and started > 0:
            waits.append(time.perf_counter() - started)
            first_write[key] = 0.0  # measured; cleared at commit

    @event.listens_for(db.engine.sync_engine, "commit")
    def committed(conn: Any) -> None:
        first_write.pop(id(conn.connection.dbapi_connection), None)

    @event.listens_for(db.engine.sync_engine, "rollback")
    def rolled_back(conn: Any) -> None:
        first_write.pop(id(conn.connection.dbapi_connection), None)

    latencies: list[float] = []
    remaining = sessions

    async def one_writer(index: int) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            async with db.session() as session:
                candidate = (
                    await session.execute(
                        text("SELECT id FROM items WHERE status = 'queued' ORDER BY n LIMIT 1")
                    )
                ).scalar_one()
                (await session.execute(text(UPDATE), {"id": candidate})).scalar_one()
                await session.execute(
                    text("INSERT INTO item_events (item_id, at, body) VALUES (:id, :at, :body)"),
                    {"id": candidate, "at": time.time(), "body": "x" * 200},
                )
            latencies.append(time.perf_counter() - started)

    # warm the pool
    async with db.session() as session:
        await session.execute(text("SELECT 1"))
    stop = asyncio.Event()
    load_cpu: list[float] = []
    background = asyncio.create_task(loop_load(load, stop, load_cpu))
    waits.clear()
    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one_writer(i) for i in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    stop.set()
    await background
    cpu -= sum(load_cpu)
    await db.close()
    latencies.sort()
    waited = [w for w in waits if w > 0.001]
    return {
        "serialize_writes": serialize,
        "sessions_per_s": round(len(latencies) / elapsed, 1),
        # the process's CPU less the loop load's bursts
        "cpu_ms_per_session": round(cpu * 1000 / len(latencies), 2),
        "latency_mean_ms": round(statistics.fmean(latencies) * 1000, 2),
        "latency_p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "latency_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "busy_waits": len(waited),
        "busy_wait_ms": round(sum(waited) * 1000, 1),
        "turns_queued": db.write_waits,
        "turn_wait_ms": round(db.write_wait_seconds * 1000, 1),
    }


def _process_main(
    path: str, serialize: bool, sessions: int, concurrency: int, load: float, queue: Any
) -> None:
    result = asyncio.run(
        writers(Path(path), serialize=serialize, sessions=sessions, concurrency=concurrency, load=load)
    )
    queue.put(result)


def two_processes(
    path: Path, *, serialize: bool, sessions: int, concurrency: int, load: float
) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    started = time.perf_counter()
    processes = [
        context.Process(target=_process_main, args=(str(path), serialize, sessions, concurrency, load, queue))
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    results = [queue.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    elapsed = time.perf_counter() - started
    return {
        "serialize_writes": serialize,
        "sessions_per_s_each": [r["sessions_per_s"] for r in results],
        "latency_mean_ms": [r["latency_mean_ms"] for r in results],
        "latency_p50_ms": [r["latency_p50_ms"] for r in results],
        "latency_p99_ms": [r["latency_p99_ms"] for r in results],
        "busy_waits": sum(r["busy_waits"] for r in results),
        "busy_wait_ms": round(sum(r["busy_wait_ms"] for r in results), 1),
        "turns_queued": sum(r["turns_queued"] for r in results),
        "wall_s": round(elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--statements", type=int, default=200, help="statements per session in part 1")
    parser.add_argument("--rounds", type=int, default=15, help="sessions per way in part 1 (median)")
    parser.add_argument("--sessions", type=int, default=600, help="write sessions per run in parts 2 and 3")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent writer tasks per process")
    parser.add_argument("--loop-load", type=float, default=0.5, help="share of the loop kept busy (0 to 0.9)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each variant, alternating")
    parser.add_argument("--skip-processes", action="store_true", help="leave out part 3")
    args = parser.parse_args()

    print(
        f"sqlite_writes: {datetime.now(UTC).isoformat(timespec='seconds')}, {os.cpu_count()} cores, "
        f"load average {[round(x, 2) for x in os.getloadavg()]}, sqlite {sqlite3.sqlite_version}"
    )
    figures: dict[str, Any] = {"args": vars(args)}
    with tempfile.TemporaryDirectory(prefix="runplane-sqlite-writes-") as directory:
        path = Path(directory) / "bench.db"
        schema(path)

        part1 = asyncio.run(hops_per_statement(path, args.statements, args.rounds))
        figures["hops"] = part1
        print(
            f"\n1. one write session of {args.statements} UPDATE ... RETURNING, no contention "
            f"(median of {args.rounds})"
        )
        print(f"  {'way':45} {'µs/statement':>13} {'hops/statement':>15}")
        for name, row in part1.items():
            print(f"  {name:45} {row['us_per_statement']:13} {row['hops_per_statement']:15}")

        def print_rows(title: str, rows: list[dict[str, Any]], keys: list[str]) -> None:
            print(title)
            print("  " + "  ".join(f"{key:>20}" for key in keys))
            for row in rows:
                print("  " + "  ".join(f"{row[key]!s:>20}" for key in keys))

        part2 = []
        for _ in range(args.repeat):
            for serialize in (False, True):
                part2.append(
                    asyncio.run(
                        writers(
                            path,
                            serialize=serialize,
                            sessions=args.sessions,
                            concurrency=args.concurrency,
                            load=args.loop_load,
                        )
                    )
                )
        figures["one_process"] = part2
        print_rows(
            f"\n2. one process: {args.sessions} claim-shaped write sessions by {args.concurrency} tasks, "
            f"loop {args.loop_load:.0%} busy (serialize_writes False = baseline)",
            part2,
            [
                "serialize_writes",
                "sessions_per_s",
                "cpu_ms_per_session",
                "latency_mean_ms",
                "latency_p50_ms",
                "latency_p99_ms",
                "busy_waits",
                "busy_wait_ms",
                "turns_queued",
                "turn_wait_ms",
            ],
        )

        if not args.skip_processes:
            part3 = []
            for _ in range(args.repeat):
                for serialize in (False, True):
                    part3.append(
                        two_processes(
                            path,
                            serialize=serialize,
                            sessions=args.sessions // 2,
                            concurrency=args.concurrency // 2 or 1,
                            load=args.loop_load,
                        )
                    )
            figures["two_processes"] = part3
            print_rows(
                f"\n3. two processes at once, each {args.sessions // 2} sessions by {args.concurrency // 2 or 1} "
                "tasks (busy waits: both processes together)",
                part3,
                [
                    "serialize_writes",
                    "sessions_per_s_each",
                    "latency_mean_ms",
                    "latency_p50_ms",
                    "latency_p99_ms",
                    "busy_waits",
                    "busy_wait_ms",
                    "turns_queued",
                    "wall_s",
                ],
            )

    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"sqlite_writes-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(figures, indent=2))
    print(f"\nfigures written to {out}")


if __name__ == "__main__":
    main()
