"""Issue 11 §2: a claim carries the reports of tasks that just ended. The server records each exactly as
the report operation would (events, audit entries, the task, its run record), answers each with what that
operation would have answered (its reply, or its 400/404/409 error body), then claims without waiting; a
list naming a task twice or too long, and an offline worker, change nothing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.conftest import auth
from tests.integration.test_folded_reports import CASES, _seen
from tests.support.workers import claimed_id, free, register, report, submit, task_of

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def exchange(
    client: httpx.AsyncClient, key: str, worker_id: str, items: list[dict[str, Any]], **extra: Any
) -> httpx.Response:
    """A claim carrying `items` (`{task_id, report}`); by default one with no slot free (claims nothing)."""
    body = {**free(slots=0), **extra, "reports": items}
    return await client.post(f"/v1/workers/{worker_id}/claim", headers=auth(key), json=body, timeout=60)


def _error_of(response: httpx.Response) -> dict[str, Any]:
    """A single report's error answer as a carried report's result shows it (its trace id left out)."""
    body = dict(response.json())
    body.pop("trace_id")
    return {"status": response.status_code, "error": body}


def _without_trace(result: dict[str, Any]) -> dict[str, Any]:
    shown = dict(result)
    if "error" in shown:
        shown["error"] = {k: v for k, v in shown["error"].items() if k != "trace_id"}
    return shown


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_carried_report_records_what_the_report_operation_would_have(
    case, client, db, worker_key, user_key, admin_key
):
    """Every kind of end (folded start or not), a retried failure, a cancel, `collecting` then the end:
    the same events with their data, audit entries, task view, attempts and run record, and the same
    reply, as the same reports sent one by one."""
    extra, cancel, ends = CASES[case]
    worker_id = await register(client, worker_key)
    seen = []
    replies = []
    for carried in (False, True):
        task_id = await submit(client, user_key, **extra)
        assert await claimed_id(client, worker_key, worker_id) == task_id
        if cancel:
            assert (await client.delete(f"/v1/tasks/{task_id}", headers=auth(user_key))).status_code == 202
        answers = []
        for number, end in enumerate(ends):
            body = {"attempt": 1, **end}
            if number == 0:
                body["run_seconds"] = 0.25
            if carried:
                answer = await exchange(client, worker_key, worker_id, [{"task_id": task_id, "report": body}])
                assert answer.status_code == 200, answer.text
                (result,) = answer.json()["reports"]
                assert result["task_id"] == task_id and result["status"] == 200, result
                answers.append(result["task"])
            else:
                single = await report(client, worker_key, worker_id, task_id, **body)
                assert single.status_code == 200, single.text
                answers.append(single.json())
        replies.append(answers)
        seen.append(await _seen(client, db, admin_key, user_key, task_id, worker_id))
        if seen[-1]["task"]["status"] == "queued":  # retried: out of the way of the next claim
            assert (await client.delete(f"/v1/tasks/{task_id}", headers=auth(user_key))).status_code == 204
    assert seen[1] == seen[0]
    assert replies[1] == replies[0]


async def test_each_carried_report_is_answered_as_the_report_operation_would(client, worker_key, user_key):
    """A good report, an unknown task (404), another worker's task (409), a report the rules refuse (400)
    and a stale attempt (409), in one claim: each gets its own answer, in order, and the claim still
    assigns the queued task."""
    worker_id = await register(client, worker_key)
    other_id = await register(client, worker_key, name="w2")
    mine = await submit(client, user_key)
    assert await claimed_id(client, worker_key, worker_id) == mine
    theirs = await submit(client, user_key)
    assert await claimed_id(client, worker_key, other_id) == theirs
    refused = await submit(client, user_key)
    assert await claimed_id(client, worker_key, worker_id) == refused
    waiting = await submit(client, user_key)
    bad: list[tuple[str, dict[str, Any]]] = [
        ("0" * 32, {"status": "completed", "run_seconds": 0.1}),
        (theirs, {"status": "completed", "run_seconds": 0.1}),
        (refused, {"status": "running", "failure_reason": "timeout"}),
        (refused, {"attempt": 2, "status": "completed", "run_seconds": 0.1}),
    ]
    expected_errors = []
    for task_id, body in bad:
        single = await report(client, worker_key, worker_id, task_id, **body)
        assert single.status_code in (400, 404, 409), single.text
        expected_errors.append(_error_of(single))
    # The same refusals again inside a claim (refused's two in two claims: a claim names a task once).
    items = [{"task_id": task_id, "report": body} for task_id, body in bad[:3]]
    items.insert(1, {"task_id": mine, "report": {"attempt": 1, "status": "completed", "run_seconds": 0.1}})
    answer = await exchange(client, worker_key, worker_id, items, **free(slots=1), max_tasks=1)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["task_id"] for r in body["reports"]] == [item["task_id"] for item in items]
    results = [_without_trace(r) for r in body["reports"]]
    assert results[1] == {
        "task_id": mine,
        "status": 200,
        "task": {"status": "completed", "progress": 100, "cancel_requested": False},
    }
    assert [
        {"status": r["status"], "error": r["error"]} for r in results[:1] + results[2:]
    ] == expected_errors[:3]
    assert body["reports"][0]["error"]["trace_id"] == answer.headers["x-trace-id"]
    assert [a["task_id"] for a in body["assignments"]] == [waiting]
    stale = await exchange(client, worker_key, worker_id, [{"task_id": refused, "report": bad[3][1]}])
    assert [
        {"status": r["status"], "error": r["error"]} for r in map(_without_trace, stale.json()["reports"])
    ] == [expected_errors[3]]
    assert (await task_of(client, user_key, mine))["status"] == "completed"
    assert (await task_of(client, user_key, refused))["status"] == "preparing"
    assert (await task_of(client, user_key, theirs))["status"] == "preparing"


async def test_a_list_too_long_changes_nothing(client, worker_key, user_key):
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    assert await claimed_id(client, worker_key, worker_id) == task_id
    waiting = await submit(client, user_key)
    end = {"attempt": 1, "status": "completed", "run_seconds": 0.1}
    items = [{"task_id": task_id, "report": end}] + [
        {"task_id": f"{n:032x}", "report": end} for n in range(64)
    ]
    too_many = await exchange(client, worker_key, worker_id, items, **free(slots=1))
    assert too_many.status_code == 400, too_many.text
    assert (await task_of(client, user_key, task_id))["status"] == "preparing"
    assert (await task_of(client, user_key, waiting))["status"] == "queued"


@pytest.mark.parametrize("end", [{"status": "completed", "run_seconds": 0.1}, {"progress": 50}])
async def test_an_item_naming_a_task_again_is_answered_400_and_the_first_recorded(
    end, client, worker_key, user_key
):
    """A list with a task twice is what the contract allows (schemathesis sends one): the first item is
    recorded as usual (in the batch of completions, or by the report operation), each repeat answered 400
    and not recorded, and the claim goes on."""
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    assert await claimed_id(client, worker_key, worker_id) == task_id
    waiting = await submit(client, user_key)
    item = {"task_id": task_id, "report": {"attempt": 1, **end}}
    answer = await exchange(client, worker_key, worker_id, [item] * 3, **free(slots=1))
    assert answer.status_code == 200, answer.text
    first, *repeats = answer.json()["reports"]
    assert first["status"] == 200, first
    for repeat in repeats:
        assert repeat["status"] == 400 and "task" not in repeat, repeat
        assert repeat["error"]["details"] == {"field": "reports", "task_id": task_id, "first": 0}, repeat
    shown = await task_of(client, user_key, task_id)
    assert shown["status"] == ("completed" if "status" in end else "preparing"), shown
    assert answer.json()["assignment"]["task_id"] == waiting  # the claim went on


async def test_an_offline_worker_s_claim_records_none_of_its_reports(client, worker_key, user_key, admin_key):
    """409 for the whole claim, as without reports; the report operation alone still takes the end."""
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    assert await claimed_id(client, worker_key, worker_id) == task_id
    end = {"attempt": 1, "status": "completed", "run_seconds": 0.1}
    done = await report(client, worker_key, worker_id, task_id, **end)
    assert done.status_code == 200
    drained = await client.delete(f"/v1/scheduler/workers/{worker_id}", headers=auth(admin_key))
    assert drained.status_code < 300, drained.text
    later = await submit(client, user_key)
    answer = await exchange(client, worker_key, worker_id, [{"task_id": task_id, "report": end}])
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"] == "The worker was drained and is offline; it takes no more work"
    assert (await task_of(client, user_key, later))["status"] == "queued"


async def test_a_claim_carrying_reports_does_not_wait(client, worker_key, user_key):
    """Nothing to claim and `wait_seconds` 30: a claim with reports answers at once, without one it
    holds the request (it is still waiting when the first has answered)."""
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    assert await claimed_id(client, worker_key, worker_id) == task_id
    waiting = asyncio.ensure_future(
        client.post(
            f"/v1/workers/{worker_id}/claim",
            headers=auth(worker_key),
            json={**free(), "wait_seconds": 30},
            timeout=60,
        )
    )
    asked = time.monotonic()
    end = {"attempt": 1, "status": "completed", "run_seconds": 0.1}
    answer = await exchange(
        client, worker_key, worker_id, [{"task_id": task_id, "report": end}], **free(), wait_seconds=30
    )
    assert answer.status_code == 200, answer.text
    assert time.monotonic() - asked < 20
    assert "assignment" not in answer.json()
    assert answer.json()["reports"][0]["status"] == 200
    assert not waiting.done()
    # The long poll is still there: a task queued now is what it answers with.
    queued = await submit(client, user_key)
    woken = await asyncio.wait_for(waiting, 45)
    assert woken.json()["assignment"]["task_id"] == queued


async def test_only_a_claim_naming_reports_gets_them_back(client, worker_key, user_key):
    worker_id = await register(client, worker_key)
    plain = await client.post(f"/v1/workers/{worker_id}/claim", headers=auth(worker_key), json=free())
    assert plain.status_code == 200 and plain.json() == {}
    empty = await exchange(client, worker_key, worker_id, [], **free())
    assert empty.status_code == 200 and empty.json() == {"reports": []}


# The ends of one claim: a folded start, a task that reported `running` first, a note with an exit code, a
# secret-holding task (its texts redacted at the end), and one the batch leaves to the report operation (a
# failure, retried).
_BATCH: list[tuple[dict[str, Any], bool, dict[str, Any]]] = [
    ({}, False, {"status": "completed", "progress": 100}),
    ({}, True, {"status": "completed"}),
    ({}, False, {"status": "completed", "message": "1 line lost", "exit_code": 0}),
    (
        {"secrets": {"TOKEN": "s3cr3t-value"}, "args": ["--token", "s3cr3t-value"]},
        False,
        {"status": "completed", "message": "used s3cr3t-value"},
    ),
    (
        {"max_retries": 1, "retry_on": ["exit_code"]},
        False,
        {"status": "failed", "failure_reason": "exit_code", "exit_code": 3},
    ),
]


async def test_the_ends_one_claim_carries_record_what_single_reports_would_have(
    client, db, worker_key, user_key, admin_key
):
    """Several ends in one claim (recorded together in one transaction where they are plain completions):
    each task's events, audit entries, view, attempts and run record, and each reply, are those of the
    same reports sent one by one."""
    worker_id = await register(client, worker_key)
    seen: list[list[dict[str, Any]]] = []
    replies: list[list[dict[str, Any]]] = []
    for carried in (False, True):
        task_ids = []
        for extra, _, _ in _BATCH:
            task_id = await submit(client, user_key, **extra)
            assert await claimed_id(client, worker_key, worker_id) == task_id
            task_ids.append(task_id)
        items: list[dict[str, Any]] = []
        for task_id, (_, started_first, end) in zip(task_ids, _BATCH, strict=True):
            body: dict[str, Any] = {"attempt": 1, **end}
            if started_first:
                started = await report(client, worker_key, worker_id, task_id, attempt=1, status="running")
                assert started.status_code == 200, started.text
            else:
                body["run_seconds"] = 0.25
            items.append({"task_id": task_id, "report": body})
        if carried:
            answer = await exchange(client, worker_key, worker_id, items)
            assert answer.status_code == 200, answer.text
            results = answer.json()["reports"]
            assert [result["task_id"] for result in results] == task_ids
            assert all(result["status"] == 200 for result in results), results
            replies.append([result["task"] for result in results])
        else:
            answers = []
            for item in items:
                single = await report(client, worker_key, worker_id, item["task_id"], **item["report"])
                assert single.status_code == 200, single.text
                answers.append(single.json())
            replies.append(answers)
        seen.append(
            [await _seen(client, db, admin_key, user_key, task_id, worker_id) for task_id in task_ids]
        )
        for task_id in task_ids:
            if (await task_of(client, user_key, task_id))["status"] == "queued":  # retried: out of the way
                assert (
                    await client.delete(f"/v1/tasks/{task_id}", headers=auth(user_key))
                ).status_code == 204
    assert seen[1] == seen[0]
    assert replies[1] == replies[0]
    assert "s3cr3t-value" not in str(seen[1])


async def test_a_claim_records_its_plain_ends_and_takes_its_tasks_in_one_transaction(
    client, worker_key, user_key
):
    """The plain ends a claim carries and the tasks it takes are one transaction: one commit (one write
    turn on SQLite, one WAL flush on PostgreSQL) for the whole exchange, where it was one for the ends and
    one for the claim."""
    worker_id = await register(client, worker_key, slots=4)
    ended = [await submit(client, user_key, f"ended-{n}") for n in range(2)]
    body = {**free(slots=2), "max_tasks": 2}
    taken = await client.post(f"/v1/workers/{worker_id}/claim", headers=auth(worker_key), json=body)
    assert sorted(a["task_id"] for a in taken.json()["assignments"]) == sorted(ended)
    queued = [await submit(client, user_key, f"queued-{n}") for n in range(2)]
    items = [
        {"task_id": task_id, "report": {"attempt": 1, "status": "completed", "run_seconds": 0.1}}
        for task_id in ended
    ]
    commits: list[object] = []

    def committed(connection: object) -> None:
        commits.append(connection)

    event.listen(Engine, "commit", committed)
    try:
        answer = await exchange(client, worker_key, worker_id, items, **body)
    finally:
        event.remove(Engine, "commit", committed)
    assert answer.status_code == 200, answer.text
    assert [(r["task_id"], r["status"], r["task"]["status"]) for r in answer.json()["reports"]] == [
        (task_id, 200, "completed") for task_id in ended
    ]
    assert sorted(a["task_id"] for a in answer.json()["assignments"]) == sorted(queued)
    assert len(commits) == 1
