"""Audit chain verify throughput: 100 000 events through runplane's verify, beside bare SHA-256 of the same bytes.

    .venv/bin/python bench/audit_verify.py                  # a fresh SQLite file, 100 000 events
    .venv/bin/python bench/audit_verify.py --postgres       # the same on SQLite and a fresh PostgreSQL db
    .venv/bin/python bench/audit_verify.py --events 20000 --chunk-size 5000

Fills a fresh, migrated database: the first `--append-sample` events through the real append path
(`runplane.store.audit.append`, one transaction each, timed: that is the append throughput), the rest
with the same hashing in bulk INSERTs of `--batch` rows (appending 100 000 one by one would take most of
the run). Each event's metadata looks like a `job_queued` one. Then it times:

* **verify**: `AuditLog.verify()` as `POST /v1/audit/verify` runs it: keyset reads of `--chunk-size`
  rows, each event's canonical JSON rebuilt and hashed, links and head checked;
* **canonical + sha256**: the same documents, already in memory, canonicalised and hashed (no database);
* **bare sha256** (the baseline): SHA-256 over the same bytes (prev_hash + canonical JSON), precomputed,
  in a plain loop.

Each timing is the best of `--rounds`; the fill is timed once. Figures are printed and written as JSON to
bench/results/. Also reports the peak Python heap during verify (tracemalloc) to show it stays flat.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import secrets
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import insert, update  # noqa: E402

from runplane.audit import AuditEntry, AuditLog, canonical_json, chain_hash, format_timestamp  # noqa: E402
from runplane.store.audit import AuditStore, append  # noqa: E402
from runplane.store.database import Database, migrate  # noqa: E402
from runplane.store.tables import AuditEventRow, AuditHeadRow, utcnow  # noqa: E402

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
RESULTS_DIR = REPO_ROOT / "bench" / "results"


@contextlib.contextmanager
def fresh_postgres(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one run (dropped after); its SQLAlchemy URL."""
    import psycopg
    from psycopg import sql

    name = f"rp_audit_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        base = admin_url.rpartition("/")[0].replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def entry(n: int) -> AuditEntry:
    task_id = f"{n:032x}"
    return AuditEntry(
        event_type="job_queued",
        action="submit",
        resource=f"task/{task_id}",
        user_id=f"user-{n % 50}",
        ip_address="10.0.0.7",
        metadata={
            "task_id": task_id,
            "owner": f"user-{n % 50}",
            "status": "queued",
            "previous_status": None,
            "worker_id": None,
            "job_name": f"train-{n % 7}",
            "priority": n % 10,
            "experiment_id": None,
            "model_id": None,
            "snapshot_id": None,
            "cpu": 4,
            "gpu": n % 2,
            "gpu_type": None,
            "node_count": 1,
        },
    )


async def append_sample(db: Database, events: int) -> float:
    """Appends `events` one transaction each, as the API does; the seconds it took."""
    started = time.perf_counter()
    for n in range(events):
        async with db.session() as session:
            await append(session, entry(n))
    return time.perf_counter() - started


async def bulk_fill(db: Database, start: int, events: int, batch: int) -> None:
    """Events start+1..events chained with the same functions as append, in multi-row INSERTs."""
    head = await AuditStore(db).head()
    seq, prev_hash = head.seq, head.event_hash
    now = utcnow()
    for first in range(start, events, batch):
        rows = []
        for n in range(first, min(first + batch, events)):
            seq += 1
            values = entry(n).fields()
            moment = now + timedelta(microseconds=seq)
            event_hash = chain_hash(
                prev_hash, {"sequence_num": seq, "timestamp": format_timestamp(moment), **values}
            )
            rows.append(
                {**values, "seq": seq, "created_at": moment, "prev_hash": prev_hash, "event_hash": event_hash}
            )
            prev_hash = event_hash
        async with db.session() as session:
            await session.execute(insert(AuditEventRow.__table__), rows)
            await session.execute(
                update(AuditHeadRow)
                .where(AuditHeadRow.id == 1)
                .values(seq=seq, event_hash=prev_hash, updated_at=moment)
            )


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    migrate(url)
    db = Database(url)
    try:
        sample = min(args.append_sample, args.events)
        append_s = await append_sample(db, sample)
        await bulk_fill(db, sample, args.events, args.batch)
        store = AuditStore(db)
        log = AuditLog(store, chunk_size=args.chunk_size)

        verify_s = float("inf")
        for _ in range(args.rounds):
            # verify records its own event; the head is read first, so each round checks the same chain
            # plus the previous rounds' audit_verified events (a handful among 100 000).
            started = time.perf_counter()
            result = await log.verify()
            verify_s = min(verify_s, time.perf_counter() - started)
            if not result.valid:
                raise SystemExit(f"the chain did not verify: {result}")
        # One more, untimed (tracemalloc slows Python down): the peak Python heap while verifying.
        tracemalloc.start()
        await log.verify()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        checked = result.total_events

        documents: list[tuple[dict[str, Any], str, str]] = []
        async for chunk in store.chunks(upto=checked, size=args.chunk_size):
            documents.extend(chunk)
    finally:
        await db.close()

    hashing_s = float("inf")
    for _ in range(args.rounds):
        started = time.perf_counter()
        for document, prev_hash, event_hash in documents:
            if chain_hash(prev_hash, document) != event_hash:
                raise SystemExit("hash mismatch in the in-memory pass")
        hashing_s = min(hashing_s, time.perf_counter() - started)

    payloads = [prev_hash.encode("ascii") + canonical_json(document) for document, prev_hash, _ in documents]
    bare_s = float("inf")
    for _ in range(args.rounds):
        started = time.perf_counter()
        for payload in payloads:
            hashlib.sha256(payload).hexdigest()
        bare_s = min(bare_s, time.perf_counter() - started)
    mean_bytes = sum(map(len, payloads)) / len(payloads)
    return {
        "backend": url.split(":", 1)[0].split("+", 1)[0],
        "events": checked,
        "mean_hashed_bytes": round(mean_bytes, 1),
        "append_events_per_s": round(sample / append_s),
        "verify_events_per_s": round(checked / verify_s),
        "canonical_sha256_events_per_s": round(checked / hashing_s),
        "bare_sha256_events_per_s": round(checked / bare_s),
        "verify_seconds": round(verify_s, 3),
        "verify_peak_heap_mib": round(peak / 2**20, 2),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        "| backend | events | append ev/s | verify ev/s | canonical+sha256 ev/s | bare sha256 ev/s |"
        " verify / bare | verify s | verify peak heap MiB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        ratio = row["bare_sha256_events_per_s"] / row["verify_events_per_s"]
        print(
            f"| {row['backend']} | {row['events']} | {row['append_events_per_s']} | {row['verify_events_per_s']} |"
            f" {row['canonical_sha256_events_per_s']} | {row['bare_sha256_events_per_s']} | {ratio:.1f}x slower |"
            f" {row['verify_seconds']} | {row['verify_peak_heap_mib']} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000, help="events to fill (default 100000)")
    parser.add_argument("--append-sample", type=int, default=500, help="events appended one by one (timed)")
    parser.add_argument("--batch", type=int, default=1000, help="rows per bulk INSERT for the rest")
    parser.add_argument("--chunk-size", type=int, default=2000, help="rows verify reads at a time")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each pass (best is kept)")
    parser.add_argument("--postgres", action="store_true", help="also on a fresh PostgreSQL database")
    parser.add_argument("--database-url", default=None, help="a migrated-or-empty database to use instead")
    args = parser.parse_args()
    if args.events < 1 or args.append_sample < 0 or args.batch < 1 or args.chunk_size < 1 or args.rounds < 1:
        parser.error("--events, --batch, --chunk-size and --rounds must be at least 1")

    rows = []
    if args.database_url:
        rows.append(asyncio.run(measure(args.database_url, args)))
    else:
        with tempfile.TemporaryDirectory(prefix="rp-audit-bench-") as tmp:
            rows.append(asyncio.run(measure(f"sqlite+aiosqlite:///{tmp}/audit.sqlite3", args)))
        if args.postgres:
            with fresh_postgres(POSTGRES_ADMIN_URL) as url:
                rows.append(asyncio.run(measure(url, args)))
    print_table(rows)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS_DIR / f"audit_verify-{stamp}.json"
    out.write_text(json.dumps({"args": vars(args), "runs": rows}, indent=2))
    print(f"figures written to {out.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
