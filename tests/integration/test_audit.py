"""The audit log through the API and behind it: what is recorded, tampering found, concurrent appenders."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from runplane.audit import AuditEntry, AuditLog
from runplane.store.audit import AuditStore, append, append_many
from runplane.store.database import Database
from tests.conftest import auth
from tests.support.snapshots import snapshot_archive
from tests.support.worker_flow import FakeWorker
from tests.support.workers import register, submit

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

REPO_ROOT = Path(__file__).resolve().parents[2]


async def _all_events(client, admin_key: str, **params: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        response = await client.get(
            "/v1/audit/events",
            headers=auth(admin_key),
            params={**params, "limit": 1000, "offset": len(events)},
        )
        assert response.status_code == 200, response.text
        page = response.json()["events"]
        events.extend(page)
        if len(page) < 1000:
            return events


async def _verify(client, admin_key: str) -> dict[str, Any]:
    response = await client.post("/v1/audit/verify", headers=auth(admin_key))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def _raw_rows(db: Database) -> str:
    """Every stored audit row and the head, as one text to search for what must not be there."""
    async with db.reader() as session:
        rows = (await session.execute(text("SELECT * FROM audit_events ORDER BY seq"))).all()
        head = (await session.execute(text("SELECT * FROM audit_head"))).all()
    return repr(rows) + repr(head)


async def test_a_tasks_life_is_audited_in_order_without_its_secrets(
    client, db, admin_key, user_key, worker_key
):
    task_id = await submit(
        client,
        user_key,
        env={"HF_TOKEN": "hf-env-secret-4242", "MODE": "fast"},
        secrets={"WANDB_API_KEY": "wandb-secret-777"},
        args=["--api-key", "arg-secret-999"],
    )
    worker = await FakeWorker(client, worker_key).register()
    await worker.claim(task_id)
    await worker.report(task_id, status="running")
    assert (await worker.upload(task_id, "out/model.bin", b"weights")).status_code == 201
    await worker.finish(task_id, exit_code=0)
    download = await client.get(f"/v1/tasks/{task_id}/artifacts/out/model.bin", headers=auth(user_key))
    assert download.status_code == 200 and download.content == b"weights"

    mine = [e for e in await _all_events(client, admin_key) if e["metadata"].get("task_id") == task_id]
    assert [e["event_type"] for e in mine] == [
        "job_queued",
        "job_assigned",
        "job_started",
        "job_completed",
        "file_access",
    ]
    queued, assigned, _, completed, access = mine
    assert (queued["user_id"], queued["ip_address"], queued["resource"]) == (
        "alice",
        "127.0.0.1",
        f"task/{task_id}",
    )
    assert queued["metadata"]["owner"] == "alice" and queued["success"] is True
    assert assigned["user_id"] == "worker-1" and assigned["metadata"]["worker_id"] == worker.worker_id
    assert completed["metadata"]["exit_code"] == 0 and completed["error"] is None
    assert access["user_id"] == "alice" and access["resource"] == f"task/{task_id}/artifacts/out/model.bin"
    assert access["metadata"]["size"] == 7
    stored = await _raw_rows(db)
    for secret in (
        "hf-env-secret-4242",
        "wandb-secret-777",
        "arg-secret-999",
        user_key,
        worker_key,
        admin_key,
    ):
        assert secret not in stored
    assert (await _verify(client, admin_key))["valid"] is True


async def test_a_failed_job_is_audited_with_its_redacted_error(client, db, admin_key, user_key, worker_key):
    task_id = await submit(client, user_key, secrets={"DB_PASSWORD": "pw-secret-31337"})
    worker = await FakeWorker(client, worker_key).register()
    await worker.claim(task_id)
    await worker.report(task_id, status="running")
    await worker.finish(
        task_id, status="failed", exit_code=3, message="connect failed with pw-secret-31337 --token tok-5150"
    )
    failed = await _all_events(client, admin_key, event_type="job_failed")
    assert len(failed) == 1 and failed[0]["success"] is False and failed[0]["metadata"]["exit_code"] == 3
    assert "connect failed" in failed[0]["error"]
    stored = await _raw_rows(db)
    assert "pw-secret-31337" not in stored and "tok-5150" not in stored


async def test_cancelling_a_queued_task_is_audited_as_the_canceller(client, admin_key, user_key):
    task_id = await submit(client, user_key)
    response = await client.delete(f"/v1/tasks/{task_id}", headers=auth(admin_key))
    assert response.status_code in (200, 202, 204), response.text
    cancelled = await _all_events(client, admin_key, event_type="job_cancelled")
    assert [(e["resource"], e["user_id"], e["success"]) for e in cancelled] == [
        (f"task/{task_id}", "root", False)
    ]


async def test_every_accepted_task_has_its_job_queued_event(client, admin_key, user_key):
    task_ids = await asyncio.gather(*(submit(client, user_key, name=f"job-{n}") for n in range(12)))
    queued = await _all_events(client, admin_key, event_type="job_queued")
    assert sorted(e["metadata"]["task_id"] for e in queued) == sorted(task_ids)


async def test_refused_keys_are_audited_with_the_address_never_the_key(client, db, admin_key, user_key):
    wrong = "rp_" + "x" * 43
    assert (await client.get("/v1/tasks", headers=auth(wrong))).status_code == 401
    assert (await client.get("/v1/audit/events", headers=auth(user_key))).status_code == 403
    # A NUL in the path (which PostgreSQL text cannot hold) is recorded, replaced, not a 500.
    assert (await client.get("/v1/tasks/a%00b", headers=auth(wrong))).status_code == 401
    attempts = await _all_events(client, admin_key, event_type="auth_attempt")
    assert [(e["user_id"], e["ip_address"], e["success"], e["resource"]) for e in attempts] == [
        (None, "127.0.0.1", False, "GET /v1/tasks"),
        ("alice", "127.0.0.1", False, "GET /v1/audit/events"),
        (None, "127.0.0.1", False, "GET /v1/tasks/a\ufffdb"),
    ]
    assert attempts[1]["metadata"]["operation"] == "list_audit_events"
    stored = await _raw_rows(db)
    assert wrong not in stored and wrong[:10] not in stored and user_key not in stored


async def test_keys_drains_and_snapshot_downloads_are_audited(client, admin_key, user_key, worker_key):
    created = await client.post("/v1/keys", headers=auth(admin_key), json={"name": "ci", "role": "user"})
    assert created.status_code == 201
    key_id = created.json()["id"]
    assert (await client.delete(f"/v1/keys/{key_id}", headers=auth(admin_key))).status_code == 204
    assert (await client.delete(f"/v1/keys/{key_id}", headers=auth(admin_key))).status_code == 204  # no-op
    worker_id = await register(client, worker_key)
    assert (
        await client.delete(f"/v1/scheduler/workers/{worker_id}", headers=auth(admin_key))
    ).status_code == 204
    upload = await client.post(
        "/v1/snapshots",
        headers={**auth(user_key), "Content-Type": "application/gzip"},
        content=snapshot_archive({"train.py": "print(1)\n"}),
    )
    assert upload.status_code == 201, upload.text
    snapshot_id = upload.json()["id"]
    assert (
        await client.get(f"/v1/snapshots/{snapshot_id}/content", headers=auth(user_key))
    ).status_code == 200

    events = await _all_events(client, admin_key)
    by_type = {(e["event_type"], e["resource"]): e for e in events}
    assert by_type[("key_created", f"key/{key_id}")]["user_id"] == "root"
    assert by_type[("key_created", f"key/{key_id}")]["metadata"] == {
        "key_id": key_id,
        "name": "ci",
        "role": "user",
        "key_user_id": "ci",
    }
    assert [e["event_type"] for e in events if e["resource"] == f"key/{key_id}"] == [
        "key_created",
        "key_revoked",
    ]
    assert by_type[("scheduler_drain", f"worker/{worker_id}")]["user_id"] == "root"
    access = by_type[("file_access", f"snapshot/{snapshot_id}")]
    assert access["user_id"] == "alice" and access["metadata"]["owner"] == "alice"
    # The fixture keys were created outside any request: by the server itself.
    assert events[0]["event_type"] == "key_created" and events[0]["user_id"] == "system"


async def test_the_audit_operations_are_admin_only(client, user_key, worker_key):
    for key in (user_key, worker_key):
        assert (await client.get("/v1/audit/events", headers=auth(key))).status_code == 403
        assert (await client.post("/v1/audit/verify", headers=auth(key))).status_code == 403
        assert (await client.get("/v1/audit/chain-root", headers=auth(key))).status_code == 403


async def test_events_filter_by_time_type_and_user_and_page(client, db, admin_key, user_key, other_user_key):
    for key in (user_key, other_user_key, user_key):
        await submit(client, key)
    everything = await _all_events(client, admin_key)
    assert [e["sequence_num"] for e in everything] == list(range(1, len(everything) + 1))
    alice = await _all_events(client, admin_key, user_id="alice", event_type="job_queued")
    assert len(alice) == 2 and {e["user_id"] for e in alice} == {"alice"}
    middle = everything[len(everything) // 2]["timestamp"]
    later = await _all_events(client, admin_key, **{"from": middle})
    earlier = await _all_events(client, admin_key, to=middle)
    assert later[0]["timestamp"] >= middle and all(e["timestamp"] < middle for e in earlier)
    assert len(later) + len(earlier) == len(everything)
    page = await client.get("/v1/audit/events", headers=auth(admin_key), params={"limit": 2, "offset": 1})
    body = page.json()
    assert body["total"] == len(everything) and (body["limit"], body["offset"]) == (2, 1)
    assert [e["sequence_num"] for e in body["events"]] == [2, 3]
    bad = await client.get("/v1/audit/events", headers=auth(admin_key), params={"from": "yesterday"})
    assert bad.status_code == 400 and bad.json()["code"] == "VALIDATION_ERROR"


async def test_chain_root_and_verify_agree_and_verify_is_itself_audited(client, admin_key):
    root = (await client.get("/v1/audit/chain-root", headers=auth(admin_key))).json()
    result = await _verify(client, admin_key)
    assert result == {
        "valid": True,
        "total_events": root["total_events"],
        "first_tampered": None,
        "reason": None,
        "chain_root_hash": root["root_hash"],
        "verified_at": result["verified_at"],
    }
    events = await _all_events(client, admin_key)
    assert events[-2]["event_hash"] == root["root_hash"] or events[-1]["prev_hash"] == root["root_hash"]
    assert events[-1]["event_type"] == "audit_verified" and events[-1]["metadata"]["valid"] is True
    after = (await client.get("/v1/audit/chain-root", headers=auth(admin_key))).json()
    assert (
        after["total_events"] == root["total_events"] + 1 and after["root_hash"] == events[-1]["event_hash"]
    )


def _documented_verifier() -> Any:
    source = (REPO_ROOT / "docs" / "audit.md").read_text()
    block = re.search(r"<!-- verifier:start -->\n```python\n(.*?)```\n<!-- verifier:end -->", source, re.S)
    assert block is not None, "docs/audit.md lost its verifier snippet"
    namespace: dict[str, Any] = {}
    exec(block.group(1), namespace)  # noqa: S102 (our own documentation)
    return namespace["first_bad_event"]


async def test_the_documented_verifier_recomputes_the_chain_from_the_api(client, db, admin_key, user_key):
    await submit(client, user_key, metadata={"note": "naïve ✓ 日本"})
    await _verify(client, admin_key)
    first_bad_event = _documented_verifier()
    assert first_bad_event(await _all_events(client, admin_key)) is None
    async with db.session() as session:
        await session.execute(text("UPDATE audit_events SET action = 'edited' WHERE seq = 2"))
    assert first_bad_event(await _all_events(client, admin_key)) == 2


# --- tampering, found at the exact sequence number -------------------------------------------------


async def _fill(db: Database, count: int) -> None:
    store = AuditStore(db)
    for n in range(count):
        await store.record(
            AuditEntry(
                event_type="file_access", action="download", resource=f"snapshot/s{n}", metadata={"n": n}
            )
        )


async def _sql(db: Database, *statements: str) -> None:
    async with db.session() as session:
        for statement in statements:
            await session.execute(text(statement))


TAMPERING = {
    "edit a field": (["UPDATE audit_events SET user_id = 'mallory' WHERE seq = 7"], 7, "hash"),
    "edit metadata": (["UPDATE audit_events SET metadata = '{\"n\": 99}' WHERE seq = 4"], 4, "hash"),
    "edit the timestamp": (
        [
            "UPDATE audit_events SET created_at = (SELECT created_at FROM audit_events WHERE seq = 1) WHERE seq = 9"
        ],
        9,
        "hash",
    ),
    "alter a hash": (["UPDATE audit_events SET event_hash = '" + "a" * 64 + "' WHERE seq = 5"], 5, "hash"),
    "delete a row": (["DELETE FROM audit_events WHERE seq = 6"], 6, "missing"),
    "delete the first row": (["DELETE FROM audit_events WHERE seq = 1"], 1, "missing"),
    "delete the newest row": (["DELETE FROM audit_events WHERE seq = 13"], 13, "missing"),
    "swap two rows": (
        [
            "UPDATE audit_events SET seq = -1 WHERE seq = 3",
            "UPDATE audit_events SET seq = 3 WHERE seq = 8",
            "UPDATE audit_events SET seq = 8 WHERE seq = -1",
        ],
        3,
        "link",
    ),
    "rewrite the head": (["UPDATE audit_head SET event_hash = '" + "b" * 64 + "'"], 13, "head"),
}


@pytest.mark.parametrize("kind", list(TAMPERING))
async def test_verify_names_the_first_tampered_sequence_number(kind, client, db, admin_key):
    # The admin_key fixture's key_created is event 1, eleven downloads follow, verify's own event is 13.
    await _fill(db, 11)
    assert (await _verify(client, admin_key))["valid"] is True
    statements, first, reason = TAMPERING[kind]
    await _sql(db, *statements)
    result = await _verify(client, admin_key)
    assert (result["valid"], result["first_tampered"], result["reason"]) == (False, first, reason)
    # The same answer when verify reads three rows at a time; except that after a rewritten head, the
    # first verify's own event (14) was linked to the forged head hash, so the chain now breaks there.
    small_chunks = await AuditLog(AuditStore(db), chunk_size=3).verify()
    again = (14, "link") if reason == "head" else (first, reason)
    assert (small_chunks.first_tampered, small_chunks.reason) == again


# --- concurrent appenders ---------------------------------------------------------------------------

APPENDER = """
import asyncio, sys
from runplane.audit import AuditEntry
from runplane.store.audit import AuditStore, append
from runplane.store.database import Database

async def main(url, name, count):
    db = Database(url)
    store = AuditStore(db)
    async def one(n):
        await store.record(AuditEntry(event_type="file_access", action="download", resource=f"{name}/{n}"))
    # Four connections per process at once.
    for start in range(0, count, 4):
        await asyncio.gather(*(one(n) for n in range(start, min(start + 4, count))))
    await db.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


@pytest.mark.slow
async def test_concurrent_processes_leave_a_gap_free_chain(database_url, db):
    processes, per_process = 4, 40
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", APPENDER, database_url, f"p{n}", str(per_process), cwd=REPO_ROOT
        )
        for n in range(processes)
    ]
    for child in children:
        assert await asyncio.wait_for(child.wait(), 300) == 0
    async with db.reader() as session:
        seqs = [
            row[0] for row in (await session.execute(text("SELECT seq FROM audit_events ORDER BY seq"))).all()
        ]
        resources = (
            await session.execute(text("SELECT count(DISTINCT resource) FROM audit_events"))
        ).scalar()
    assert seqs == list(range(1, processes * per_process + 1))
    assert resources == processes * per_process
    result = await AuditLog(AuditStore(db)).verify()
    assert result.valid and result.total_events == processes * per_process


async def test_a_rolled_back_change_leaves_no_event_and_no_used_number(db):
    store = AuditStore(db)
    await store.record(AuditEntry(event_type="file_access", action="download"))

    class Abort(Exception):
        pass

    async def append_then_fail() -> None:
        async with db.session() as session:
            await append(session, AuditEntry(event_type="file_access", action="download"))
            raise Abort

    with pytest.raises(Abort):
        await append_then_fail()
    assert await store.record(AuditEntry(event_type="file_access", action="download")) == 2
    assert (await AuditLog(store).verify()).valid


async def _head_and_last(db: Database) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    async with db.reader() as session:
        head = (await session.execute(text("SELECT seq, event_hash, updated_at FROM audit_head"))).one()
        last = (
            await session.execute(
                text("SELECT seq, event_hash, created_at FROM audit_events ORDER BY seq DESC LIMIT 1")
            )
        ).one()
    return tuple(head), tuple(last)


async def test_the_head_follows_every_append_and_the_last_event_of_a_batch(db):
    store = AuditStore(db)
    await store.record(AuditEntry(event_type="file_access", action="download", resource="one"))
    head, last = await _head_and_last(db)
    assert head == last and head[0] == 1
    async with db.session() as session:
        await append_many(
            session,
            [AuditEntry(event_type="file_access", action="download", resource=f"r{n}") for n in range(5)],
        )
    head, last = await _head_and_last(db)
    assert head == last and head[0] == 6
    await store.record(AuditEntry(event_type="file_access", action="download", resource="after"))
    head, last = await _head_and_last(db)
    assert head == last and head[0] == 7
    assert (await AuditLog(store).verify()).valid


async def test_appenders_with_stale_heads_still_link_one_chain(database_url, db):
    """Two engines on one database stand for two server processes: each one's appends move the head the
    other last saw, so on SQLite every second append finds its hint stale and claims a number instead."""
    other = Database(database_url)
    try:
        stores = [AuditStore(db), AuditStore(other)]
        numbers = [
            await stores[n % 2].record(
                AuditEntry(event_type="file_access", action="download", resource=f"{n}")
            )
            for n in range(8)
        ]
        numbers += [
            await stores[1].record(AuditEntry(event_type="file_access", action="download", resource=f"b{n}"))
            for n in range(3)
        ]
    finally:
        await other.close()
    assert numbers == list(range(1, 12))
    result = await AuditLog(stores[0]).verify()
    assert result.valid and result.total_events == 11


async def test_an_append_is_one_statement_on_sqlite_and_two_on_postgresql(db):
    """SQLite: one INSERT checking the head this process left; PostgreSQL, whose appenders run side by side:
    the claim of a number under the head's lock, then the INSERT. The head's hash is the INSERT's trigger's."""
    store = AuditStore(db)
    await store.record(AuditEntry(event_type="file_access", action="download", resource="first"))
    async with db.session() as session:  # a batch leaves the head this process knows, too
        await append_many(
            session,
            [AuditEntry(event_type="file_access", action="download", resource=f"b{n}") for n in range(3)],
        )
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        await store.record(AuditEntry(event_type="file_access", action="download", resource="second"))
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    assert statements == (["INSERT"] if db.backend == "sqlite" else ["UPDATE", "INSERT"])
    head, last = await _head_and_last(db)
    assert head == last and head[0] == 5
    assert (await AuditLog(store).verify()).valid
