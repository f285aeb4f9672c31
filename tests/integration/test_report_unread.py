"""A worker's plain report recorded in one write without reading first, and run.json in the end's transaction.

A plain report (running, collecting, completed or progress; no failure, no service URL) is one
conditional UPDATE; when its condition does not hold the report is read and answered as it always was.
Either way a report that ends a task writes run.json's file and then its artifact row in the end's own
transaction, from the row that transaction's UPDATE returned.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select

from runplane import artifacts as artifacts_module
from runplane.settings import Settings
from runplane.store import events as events_store
from runplane.store.tables import ArtifactRow, EventRow, TaskRow
from runplane.store.tasks import TaskStore
from runplane.store.workers import WorkerStore
from runplane.workers import WorkerManager
from tests.conftest import _new_key, auth
from tests.support.errors import assert_error
from tests.support.workers import claimed_id, register, report, submit, task_of

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

SECRET = "s3cr3t-value-9f"


@pytest.fixture
async def other_worker_key(settings: Settings) -> str:
    return await _new_key(settings, "worker", "worker-2")


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the reads a report made of the task or the worker (the read path's and run.json's)."""
    made: list[str] = []

    def counted(cls: type, name: str) -> None:
        original: Callable[..., Awaitable[Any]] = getattr(cls, name)

        async def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
            made.append(name)
            return await original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, spy)

    counted(WorkerStore, "worker_and_task")
    counted(WorkerStore, "task")
    counted(WorkerStore, "get")
    counted(TaskStore, "get")
    return made


def without_the_read_first(monkeypatch: pytest.MonkeyPatch) -> None:
    async def none(*_args: Any, **_kwargs: Any) -> None:
        return None

    monkeypatch.setattr(WorkerManager, "_report_unread", none)


async def _events(db: Any, task_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with db.reader() as session:
        rows = await session.scalars(
            select(EventRow).where(EventRow.task_id == task_id).order_by(EventRow.id)
        )
        return [(row.topic, dict(row.data)) for row in rows.all()]


async def _audit(client: Any, admin_key: str, task_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    response = await client.get("/v1/audit/events", headers=auth(admin_key), params={"limit": 1000})
    assert response.status_code == 200, response.text
    return [
        (entry["event_type"], entry["action"], entry["metadata"])
        for entry in response.json()["events"]
        if entry["metadata"].get("task_id") == task_id
    ]


async def _run_json(client: Any, key: str, task_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(/run, the stored run.json) of a task."""
    run = await client.get(f"/v1/tasks/{task_id}/run", headers=auth(key))
    stored = await client.get(f"/v1/tasks/{task_id}/artifacts/run.json", headers=auth(key))
    assert run.status_code == 200 and stored.status_code == 200, (run.text, stored.text)
    return run.json(), json.loads(stored.content)


async def _row(db: Any, task_id: str) -> TaskRow:
    async with db.reader() as session:
        row: TaskRow | None = await session.get(TaskRow, task_id, populate_existing=True)
    assert row is not None
    return row


async def _short_run(client: Any, worker_key: str, worker_id: str, user_key: str) -> str:
    """A task claimed, running, with progress, and completed with a message and an exit code."""
    task_id = await submit(client, user_key, run_label="r")
    assert await claimed_id(client, worker_key, worker_id) == task_id
    steps: list[dict[str, Any]] = [
        {"attempt": 1, "status": "running", "message": "started"},
        {"attempt": 1, "progress": 40.0, "message": "epoch 2"},
        {"attempt": 1, "progress": 20.0},  # progress never goes down
        {"attempt": 1, "status": "completed", "message": "done", "exit_code": 0},
    ]
    for body in steps:
        answer = await report(client, worker_key, worker_id, task_id, **body)
        assert answer.status_code == 200, answer.text
    return task_id


async def test_a_plain_report_reads_neither_the_task_nor_the_worker(client, db, worker_key, user_key, reads):
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    assert await claimed_id(client, worker_key, worker_id) == task_id
    reads.clear()
    running = await report(client, worker_key, worker_id, task_id, attempt=1, status="running")
    assert running.json() == {"status": "running", "progress": 0.0, "cancel_requested": False}
    progress = await report(client, worker_key, worker_id, task_id, progress=50.0, message="half")
    assert progress.json() == {"status": "running", "progress": 50.0, "cancel_requested": False}
    completed = await report(client, worker_key, worker_id, task_id, status="completed")
    assert completed.json() == {"status": "completed", "progress": 100.0, "cancel_requested": False}
    assert reads == []  # no read first, and run.json from the row the end's UPDATE returned
    assert [
        (topic, data.get("status"), data.get("previous_status")) for topic, data in await _events(db, task_id)
    ] == [
        ("task_update", "queued", None),
        ("task_update", "preparing", "queued"),
        ("task_update", "running", "preparing"),
        ("task_progress", None, None),
        ("task_update", "completed", "running"),
        ("task_complete", "completed", None),
    ]
    run, stored = await _run_json(client, user_key, task_id)
    assert stored == run and run["status"] == "completed"
    row = await _row(db, task_id)
    assert (row.message, row.secrets, row.started_at is not None) == ("Completed", {}, True)


async def test_the_unread_write_records_what_the_read_path_records(
    client, db, worker_key, user_key, admin_key, monkeypatch
):
    worker_id = await register(client, worker_key)
    unread = await _short_run(client, worker_key, worker_id, user_key)
    without_the_read_first(monkeypatch)
    read = await _short_run(client, worker_key, worker_id, user_key)

    def task(view: Any) -> Any:
        """The view without what differs between any two tasks (ids, names, times)."""
        if isinstance(view, list | tuple):
            return [task(item) for item in view]
        if not isinstance(view, dict):
            return view
        drop = ("id", "job_name", "duration_seconds")
        return {k: task(v) for k, v in view.items() if k not in drop and not k.endswith("_at")}

    def unnamed(found: list[Any]) -> str:
        return json.dumps(task(found), sort_keys=True, default=str).replace(unread, "T").replace(read, "T")

    assert unnamed(await _events(db, unread)) == unnamed(await _events(db, read))
    audit = await _audit(client, admin_key, unread)
    assert [entry[0] for entry in audit] == ["job_queued", "job_assigned", "job_started", "job_completed"]
    assert unnamed(audit) == unnamed(await _audit(client, admin_key, read))
    runs = []
    for task_id in (unread, read):
        run, stored = await _run_json(client, user_key, task_id)
        assert stored == run
        runs.append(
            {k: v for k, v in run.items() if k not in ("task_id", "submitted_at", "started_at", "ended_at")}
        )
    assert runs[0] == runs[1]
    verify = await client.post("/v1/audit/verify", headers=auth(admin_key))
    assert verify.status_code == 200 and verify.json()["valid"] is True, verify.text


async def test_reports_the_write_does_not_match_are_answered_as_before(
    client, db, worker_key, other_worker_key, user_key, reads
):
    worker_id = await register(client, worker_key)
    other_id = await register(client, other_worker_key, "w2")
    task_id = await submit(client, user_key)
    assert await claimed_id(client, worker_key, worker_id) == task_id
    # Another key acting as this worker: the worker is not found (its id leaks nothing).
    assert_error(
        await report(client, other_worker_key, worker_id, task_id, status="running"),
        404,
        "NOT_FOUND",
        "Worker not found",
        {"worker_id": worker_id},
    )
    # Another worker, another attempt, an unknown task, an edge a report may not take.
    assert_error(
        await report(client, other_worker_key, other_id, task_id, status="running"),
        409,
        "CONFLICT",
        "This task is not assigned to this worker",
        {"task_id": task_id, "worker_id": other_id},
    )
    assert_error(
        await report(client, worker_key, worker_id, task_id, status="running", attempt=2),
        409,
        "CONFLICT",
        "Attempt 2 is over: the task is on attempt 1",
        {"task_id": task_id, "attempt": 2, "current_attempt": 1},
    )
    assert_error(
        await report(client, worker_key, worker_id, "0" * 32, status="running"),
        404,
        "NOT_FOUND",
        "Task not found",
        {"task_id": "0" * 32},
    )
    assert_error(
        await report(client, worker_key, worker_id, task_id, status="completed"),
        409,
        "CONFLICT",
        "A preparing task cannot become completed",
        {"task_id": task_id, "status": "preparing", "requested": "completed"},
    )
    before = await _events(db, task_id)
    assert (await _row(db, task_id)).status == "preparing"
    # A repeat records nothing; an older agent's collecting → completed is read first, then recorded.
    for status in ("running", "running", "collecting", "completed", "completed"):
        answer = await report(client, worker_key, worker_id, task_id, status=status)
        assert answer.status_code == 200 and answer.json()["status"] == status, answer.text
    changes = [
        (data.get("status"), data.get("previous_status"))
        for _, data in (await _events(db, task_id))[len(before) :]
    ]
    assert changes == [
        ("running", "preparing"),
        ("collecting", "running"),
        ("completed", "collecting"),
        ("completed", None),
    ]
    assert "worker_and_task" in reads
    run, stored = await _run_json(client, user_key, task_id)
    assert stored == run


async def test_a_task_holding_secret_values_is_read_before_its_end(client, db, worker_key, user_key, reads):
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key, secrets={"TOKEN": SECRET})
    assert await claimed_id(client, worker_key, worker_id) == task_id
    await report(client, worker_key, worker_id, task_id, status="running")
    reads.clear()
    done = await report(client, worker_key, worker_id, task_id, status="completed", message=f"used {SECRET}")
    assert done.status_code == 200, done.text
    assert "worker_and_task" in reads  # its texts are redacted by its values, so it is read first
    row = await _row(db, task_id)
    assert row.status == "completed" and row.secrets == {} and row.secret_names == ["TOKEN"]
    assert (
        row.message is not None and SECRET not in row.message and row.message.startswith("Completed: used ")
    )
    run, stored = await _run_json(client, user_key, task_id)
    assert stored == run and SECRET not in json.dumps(stored)


async def test_a_run_json_that_cannot_be_written_does_not_hold_up_the_end(
    client, db, worker_key, user_key, monkeypatch
):
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    assert await claimed_id(client, worker_key, worker_id) == task_id
    await report(client, worker_key, worker_id, task_id, status="running")

    async def full(*_args: Any) -> list[str]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(artifacts_module, "write_many_atomic", full)
    done = await report(client, worker_key, worker_id, task_id, status="completed")
    assert done.status_code == 200, done.text
    assert (await task_of(client, user_key, task_id))["status"] == "completed"
    assert [topic for topic, _ in await _events(db, task_id)][-2:] == ["task_update", "task_complete"]
    # No file, so no row: the artifact list never names a run.json that is not there.
    async with db.reader() as session:
        assert (await session.scalars(select(ArtifactRow).where(ArtifactRow.task_id == task_id))).all() == []


async def test_an_end_that_does_not_commit_leaves_no_run_json_row_and_is_reported_again(
    client, db, settings, worker_key, user_key, monkeypatch
):
    worker_id = await register(client, worker_key)
    task_id = await submit(client, user_key)
    assert await claimed_id(client, worker_key, worker_id) == task_id
    await report(client, worker_key, worker_id, task_id, status="running")
    original = events_store.task_changed

    async def broken(session: Any, row: TaskRow, **kwargs: Any) -> None:
        if row.status == "completed":
            raise RuntimeError("the database went away after run.json's row")
        await original(session, row, **kwargs)

    monkeypatch.setattr(events_store, "task_changed", broken)
    failed = await report(client, worker_key, worker_id, task_id, status="completed")
    assert failed.status_code == 500, failed.text
    # Nothing of the end committed: the task runs, and no artifact row names run.json.
    assert (await _row(db, task_id)).status == "running"
    async with db.reader() as session:
        assert (await session.scalars(select(ArtifactRow).where(ArtifactRow.task_id == task_id))).all() == []
    missing = await client.get(f"/v1/tasks/{task_id}/artifacts/run.json", headers=auth(user_key))
    assert missing.status_code == 404
    # The worker reports again: the end commits, with a run.json equal to /run.
    monkeypatch.setattr(events_store, "task_changed", original)
    done = await report(client, worker_key, worker_id, task_id, status="completed")
    assert done.status_code == 200, done.text
    run, stored = await _run_json(client, user_key, task_id)
    assert stored == run and run["status"] == "completed"
