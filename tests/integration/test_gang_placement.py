"""Gang placement through the API, on SQLite and PostgreSQL: all or nothing under concurrent claims,
parts delivered once, a part's failure stopping the others, retries of the whole gang, cancel."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from runplane.store.tables import TaskPartRow, TaskRow
from tests.conftest import auth
from tests.integration.test_snapshots_api import good_archive, upload
from tests.support.errors import assert_error
from tests.support.worker_flow import new_worker_key
from tests.support.workers import free, heartbeat, register, report, submit, task_of

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"reaper_seconds": 0}


async def claim_all(
    client: httpx.AsyncClient, key: str, worker_id: str, **resources: Any
) -> list[dict[str, Any]]:
    response = await client.post(
        f"/v1/workers/{worker_id}/claim",
        headers=auth(key),
        json={**free(**resources), "max_tasks": 4, "master_port": 40000},
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["assignments"]
    return found


async def test_concurrent_claims_place_gangs_whole_and_give_each_part_once(client, worker_key, user_key, db):
    workers = [await register(client, worker_key, f"w{n}", slots=1) for n in range(7)]
    gangs = {
        await submit(client, user_key, f"g{n}", node_count=size): size for n, size in enumerate((3, 3, 4))
    }

    async def claims(worker_id: str) -> list[tuple[str, str, int | None]]:
        found = await claim_all(client, worker_key, worker_id)
        return [(worker_id, a["task_id"], a.get("rank")) for a in found]

    delivered: list[tuple[str, str, int | None]] = []
    for _ in range(2):  # a second round hands over the parts other claims placed
        for got in await asyncio.gather(*(claims(w) for w in workers)):
            delivered.extend(got)

    async with db.reader() as session:
        parts = (await session.scalars(select(TaskPartRow))).all()
        statuses = dict((await session.execute(select(TaskRow.id, TaskRow.status))).all())
    by_task: dict[str, list[TaskPartRow]] = {}
    for part in parts:
        by_task.setdefault(part.task_id, []).append(part)
    # Seven one-slot workers: two gangs (3 + 3, or 3 + 4) fit, never all three.
    assert len(by_task) == 2
    for task_id, size in gangs.items():
        placed = by_task.get(task_id, [])
        if placed:
            assert sorted(p.rank for p in placed) == list(range(size))  # all parts, or none
            assert statuses[task_id] == "preparing"
        else:
            assert statuses[task_id] == "queued"
    assert len({p.worker_id for p in parts}) == len(parts)  # one part per worker: none over capacity
    # Every part reached its own worker exactly once, with its rank; nothing else was handed out.
    assert Counter(delivered) == Counter((p.worker_id, p.task_id, p.rank) for p in parts)
    for task_id, placed in by_task.items():
        task = await task_of(client, user_key, task_id)
        assert [a["worker_id"] for a in task["node_assignments"]] == [
            p.worker_id for p in sorted(placed, key=lambda p: p.rank)
        ]


async def start_gang(client, worker_key, user_key, size: int, **extra: Any) -> tuple[str, list[str]]:
    """A gang of `size` placed on `size` fresh workers; its workers, rank 0 first."""
    workers = [await register(client, worker_key, f"n{n}", slots=1) for n in range(size)]
    task_id = await submit(client, user_key, "gang", node_count=size, **extra)
    first = await claim_all(client, worker_key, workers[0])
    assert [(a["task_id"], a["rank"], a["world_size"]) for a in first] == [(task_id, 0, size)]
    assert (first[0]["master_addr"], first[0]["master_port"]) == ("n0.example", 40000)
    ranks = {workers[0]: 0}
    for worker_id in workers[1:]:
        got = await claim_all(client, worker_key, worker_id)
        assert len(got) == 1 and got[0]["task_id"] == task_id
        assert (got[0]["master_addr"], got[0]["master_port"]) == ("n0.example", 40000)
        ranks[worker_id] = got[0]["rank"]
    assert sorted(ranks.values()) == list(range(size))
    return task_id, sorted(workers, key=ranks.__getitem__)


async def test_the_gang_runs_when_all_parts_run_and_completes_when_all_complete(client, worker_key, user_key):
    task_id, workers = await start_gang(client, worker_key, user_key, 2)
    ok = await report(client, worker_key, workers[0], task_id, status="running")
    assert ok.status_code == 200 and ok.json()["status"] == "preparing"
    ok = await report(client, worker_key, workers[1], task_id, status="running")
    assert ok.json()["status"] == "running"
    for worker_id in workers:
        await report(
            client, worker_key, worker_id, task_id, status="collecting", message="uploading 1 file(s)"
        )
    # As the worker agent does: the final report names no exit code.
    assert (await report(client, worker_key, workers[0], task_id, status="completed")).json()["status"] == (
        "collecting"
    )
    done = await report(client, worker_key, workers[1], task_id, status="completed")
    assert done.json()["status"] == "completed"
    task = await task_of(client, user_key, task_id)
    assert [(a["rank"], a["status"], a["exit_code"], a["message"]) for a in task["node_assignments"]] == [
        (0, "completed", 0, "Completed"),
        (1, "completed", 0, "Completed"),
    ]


async def test_a_failed_part_fails_the_gang_naming_its_rank_and_the_others_are_stopped(
    client, worker_key, user_key
):
    task_id, workers = await start_gang(client, worker_key, user_key, 3)
    for worker_id in workers:
        await report(client, worker_key, worker_id, task_id, status="running")
    failed = await report(client, worker_key, workers[2], task_id, status="failed", exit_code=3)
    assert failed.json()["status"] == "failed"
    task = await task_of(client, user_key, task_id)
    assert task["failure"]["reason"] == "exit_code"
    parts = {a["rank"]: a for a in task["node_assignments"]}
    assert task["failure"]["message"] == f"rank 2 (worker {parts[2]['worker_name']}) exited with code 3"
    assert (parts[2]["status"], parts[2]["exit_code"]) == ("failed", 3)
    assert parts[0]["status"] == parts[1]["status"] == "cancelled"
    assert parts[0]["message"] == "stopped: rank 2 failed"
    # The others learn it on their next heartbeat, then stop; their late reports are accepted.
    for worker_id in workers[:2]:
        beat = await heartbeat(client, worker_key, worker_id, [task_id])
        assert beat.json()["cancel_task_ids"] == [task_id]
        late = await report(client, worker_key, worker_id, task_id, status="cancelled")
        assert late.status_code == 200 and late.json()["status"] == "failed"
        beat = await heartbeat(client, worker_key, worker_id, [])
        assert beat.json()["cancel_task_ids"] == []


async def test_a_retried_gang_is_requeued_whole_as_a_new_attempt(client, worker_key, user_key, db):
    task_id, workers = await start_gang(
        client, worker_key, user_key, 2, max_retries=1, retry_on=["exit_code"]
    )
    await report(client, worker_key, workers[1], task_id, status="failed", exit_code=1)
    task = await task_of(client, user_key, task_id)
    assert (task["status"], task["attempt"]) == ("queued", 2)
    assert "node_assignments" not in task
    assert task["attempts"][0]["failure_message"].startswith("rank 1 (worker n")
    assert task["attempts"][0]["failure_message"].endswith(") exited with code 1")
    # Rank 0's worker still runs the old part: it may not take a part of the new attempt until it
    # stopped it (its heartbeat says so), so the new attempt waits.
    assert await claim_all(client, worker_key, workers[1]) == []
    beat = await heartbeat(client, worker_key, workers[0], [task_id])
    assert beat.json()["cancel_task_ids"] == [task_id]
    await heartbeat(client, worker_key, workers[0], [])
    again = await claim_all(client, worker_key, workers[1])
    assert [(a["task_id"], a["attempt"], a["rank"]) for a in again] == [(task_id, 2, 0)]


async def test_cancel_stops_every_part(client, worker_key, user_key):
    task_id, workers = await start_gang(client, worker_key, user_key, 2)
    for worker_id in workers:
        await report(client, worker_key, worker_id, task_id, status="running")
    cancelled = await client.delete(f"/v1/tasks/{task_id}", headers=auth(user_key))
    assert cancelled.status_code == 202, cancelled.text
    for worker_id in workers:
        beat = await heartbeat(client, worker_key, worker_id, [task_id])
        assert beat.json()["cancel_task_ids"] == [task_id]
    first = await report(client, worker_key, workers[0], task_id, status="cancelled")
    assert first.json()["status"] == "running"
    last = await report(client, worker_key, workers[1], task_id, status="cancelled")
    assert last.json()["status"] == "cancelled"


async def test_the_head_gang_holds_the_workers_it_needs_and_others_backfill(client, worker_key, user_key):
    # Two 4-core workers could run the 4-core parts; the 1-core worker never could.
    a = await register(client, worker_key, "a", cpu=4, slots=2)
    b = await register(client, worker_key, "b", cpu=4, slots=2)
    c = await register(client, worker_key, "c", cpu=1, slots=1)
    busy = await submit(client, user_key, "busy", cpu=1)
    assert [x["task_id"] for x in await claim_all(client, worker_key, a, cpu=4, slots=2)] == [busy]
    gang = await submit(client, user_key, "gang", node_count=2, cpu=4, priority=10)
    small = [await submit(client, user_key, f"small-{n}", cpu=1, priority=1) for n in range(2)]
    # The gang is the head of the queue and cannot start (a has 3 cores free): a and b hold for it.
    assert await claim_all(client, worker_key, b, cpu=4, slots=2) == []
    assert await claim_all(client, worker_key, a, cpu=3, slots=1) == []
    # c is no use to the gang: it backfills with a small task.
    assert [x["task_id"] for x in await claim_all(client, worker_key, c, cpu=1, slots=1)] == [small[0]]
    # Once a's work ends, a's next claim starts the gang on a and b; the other small task still waits.
    for status in ("running", "collecting", "completed"):
        await report(client, worker_key, a, busy, status=status)
    placed = await claim_all(client, worker_key, a, cpu=4, slots=2)
    assert [(x["task_id"], x["rank"]) for x in placed] == [(gang, 0)]
    assert [(x["task_id"], x["rank"]) for x in await claim_all(client, worker_key, b, cpu=4, slots=2)] == [
        (gang, 1)
    ]
    assert (await task_of(client, user_key, small[1]))["status"] == "queued"


async def test_a_task_held_back_by_the_head_gang_says_it_yields_to_it(client, worker_key, user_key, manager):
    a = await register(client, worker_key, "a", cpu=4, slots=2)
    b = await register(client, worker_key, "b", cpu=4, slots=2)
    busy = await submit(client, user_key, "busy", cpu=1)
    assert [x["task_id"] for x in await claim_all(client, worker_key, a, cpu=4, slots=2)] == [busy]
    gang = await submit(client, user_key, "gang", node_count=2, cpu=4, priority=10)
    small = await submit(client, user_key, "small", cpu=1, priority=1)
    assert await claim_all(client, worker_key, b, cpu=4, slots=2) == []
    await manager.reap()
    yields = (
        "Waiting: yields to a 2-node task (priority 10) at the head of the queue; the 2 worker(s) it will "
        "start on take no other work until it starts"
    )
    assert (await task_of(client, user_key, small))["message"] == yields
    # A worker the gang does not hold: the small task waits for nothing, its message says so again.
    await register(client, worker_key, "c", cpu=1, slots=1)
    await manager.reap()
    assert (await task_of(client, user_key, small))["message"] == "Queued"
    assert (await task_of(client, user_key, gang))["status"] == "queued"


async def test_every_parts_worker_downloads_the_gangs_snapshot_while_it_runs_its_part(
    client, settings, worker_key, user_key
):
    body = good_archive()
    snapshot_id = (await upload(client, user_key, body)).json()["id"]
    url = f"/v1/snapshots/{snapshot_id}/content"
    # Rank 1's worker was registered with a key of its own (another worker key's user).
    other_key = await new_worker_key(settings, "worker-2")
    first = await register(client, worker_key, "n0", slots=1)
    second = await register(client, other_key, "n1", slots=1)
    task_id = await submit(client, user_key, "gang", node_count=2, snapshot_id=snapshot_id)
    assert [a["rank"] for a in await claim_all(client, worker_key, first)] == [0]
    assert [a["rank"] for a in await claim_all(client, other_key, second)] == [1]
    for key in (worker_key, other_key):
        download = await client.get(url, headers=auth(key))
        assert download.status_code == 200 and download.content == body
    stranger = await new_worker_key(settings, "worker-3")
    not_found = (404, "NOT_FOUND", "Snapshot not found", {"snapshot_id": snapshot_id})
    assert_error(await client.get(url, headers=auth(stranger)), *not_found)
    # Once the gang ended (rank 1 failed, rank 0 stopped), neither may download it any more.
    await report(client, other_key, second, task_id, status="failed", exit_code=1)
    for key in (worker_key, other_key):
        assert_error(await client.get(url, headers=auth(key)), *not_found)


async def test_a_late_report_of_an_ended_gangs_part_is_answered_never_a_500(client, worker_key, user_key, db):
    task_id, workers = await start_gang(client, worker_key, user_key, 2)
    failed = await report(client, worker_key, workers[1], task_id, status="failed", exit_code=2)
    assert failed.json()["status"] == "failed"
    # Rank 0 had not heard yet: its late reports (any status) get the ended task back, unchanged.
    for status in ("running", "collecting", "completed", "failed"):
        late = await report(client, worker_key, workers[0], task_id, status=status)
        assert late.status_code == 200, late.text
        assert late.json()["status"] == "failed"


async def test_a_report_racing_another_parts_failure_is_not_a_500(client, worker_key, user_key, db):
    task_id, workers = await start_gang(client, worker_key, user_key, 2)
    # The moment between rank 1's failure being read and the task read: a failed part, the task active.
    async with db.session() as session:
        await session.execute(
            update(TaskPartRow)
            .where(TaskPartRow.task_id == task_id, TaskPartRow.rank == 1)
            .values(status="failed", failure_reason="exit_code")
        )
    racing = await report(client, worker_key, workers[0], task_id, status="running")
    assert racing.status_code == 409, racing.text
    assert racing.json()["error"] == "The task changed concurrently; report again"


async def test_a_catalog_model_on_several_nodes_is_refused(client, user_key):
    body = {"job_name": "m", "model_id": "simulator", "inputs": {"trials": 100}, "node_count": 2}
    response = await client.post("/v1/tasks", headers=auth(user_key), json=body)
    message = "A catalog model runs on one node: 'node_count' must be 1 with 'model_id'"
    assert_error(response, 422, "VALIDATION_ERROR", message, {"field": "node_count"})
    assert (await client.get("/v1/tasks", headers=auth(user_key))).json()["total"] == 0
