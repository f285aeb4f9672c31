"""A task's secret values do not outlive their use: erased from the database when the task ends (every way
it can end), kept while an automatic retry is pending, and taken again by POST /v1/tasks/{id}/retry (409
naming the missing ones without them). Read straight from the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runplane.store.database import Database
from runplane.store.tables import TaskRow
from tests.conftest import auth
from tests.support.worker_flow import FakeWorker
from tests.support.workers import end_lease, submit, task_of

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

SECRETS = {"HF_TOKEN": "hf-value-1234567890", "DB_PASSWORD": "pw-value-0987654321"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"reaper_seconds": 0}  # reaper passes run when a test says so


async def stored(db: Database, task_id: str) -> TaskRow:
    """The task's row as the database holds it now."""
    async with db.reader() as session:
        row = await session.get(TaskRow, task_id, populate_existing=True)
    assert row is not None
    return row


async def test_a_completed_task_keeps_only_its_secret_names(client, db, worker_key, user_key):
    task_id = await submit(client, user_key, secrets=SECRETS)
    assert (await stored(db, task_id)).secrets == SECRETS  # needed until it runs
    worker = await FakeWorker(client, worker_key).register()
    assignment = await worker.claim(task_id)
    assert assignment["secrets"] == SECRETS
    await worker.report(task_id, status="running")
    await worker.finish(task_id, message=f"done with {SECRETS['HF_TOKEN']}")
    row = await stored(db, task_id)
    assert row.status == "completed"
    assert row.secrets == {}
    assert row.secret_names == sorted(SECRETS)
    # A text written as it ended is redacted at rest: the values are no longer there to redact it later.
    assert SECRETS["HF_TOKEN"] not in (row.message or "")
    task = await task_of(client, user_key, task_id)
    assert task["secret_names"] == sorted(SECRETS)


async def test_every_way_of_ending_erases_the_values(client, db, manager, worker_key, user_key):
    worker = await FakeWorker(client, worker_key).register()
    # failed for good (no retry left)
    failed = await submit(client, user_key, secrets=SECRETS)
    await worker.start(failed)
    await worker.report(failed, status="failed", exit_code=1, message=f"bad {SECRETS['DB_PASSWORD']}")
    row = await stored(db, failed)
    assert (row.status, row.secrets) == ("failed", {})
    assert SECRETS["DB_PASSWORD"] not in (row.failure_message or "") + (row.message or "")
    # cancelled while queued
    queued = await submit(client, user_key, secrets=SECRETS)
    assert (await client.delete(f"/v1/tasks/{queued}", headers=auth(user_key))).status_code in (200, 202, 204)
    assert (await stored(db, queued)).secrets == {}
    # cancelled by its worker after the owner asked
    active = await submit(client, user_key, secrets=SECRETS)
    await worker.start(active)
    await client.delete(f"/v1/tasks/{active}", headers=auth(user_key))
    assert (await stored(db, active)).secrets == SECRETS  # still running: its worker still needs them
    await worker.report(active, status="cancelled")
    assert (await stored(db, active)).secrets == {}
    # its worker lost, no retry left (the reaper fails it)
    lost = await submit(client, user_key, secrets=SECRETS, max_retries=0)
    await worker.start(lost)
    await end_lease(db, worker.worker_id)
    assert lost in (await manager.reap()).failed
    assert (await stored(db, lost)).secrets == {}


async def test_an_automatic_retry_keeps_the_values_for_the_next_attempt(client, db, worker_key, user_key):
    task_id = await submit(client, user_key, secrets=SECRETS, max_retries=1, retry_on_exit_codes=[3])
    worker = await FakeWorker(client, worker_key).register()
    await worker.start(task_id)
    await worker.report(task_id, status="failed", exit_code=3)
    row = await stored(db, task_id)
    assert (row.status, row.secrets) == ("queued", SECRETS)
    assert (await worker.claim(task_id))["secrets"] == SECRETS


async def test_retry_takes_the_secrets_again_or_is_409_naming_them(client, db, worker_key, user_key):
    task_id = await submit(client, user_key, secrets=SECRETS)
    worker = await FakeWorker(client, worker_key).register()
    await worker.start(task_id)
    await worker.report(task_id, status="failed", exit_code=1)

    response = await client.post(f"/v1/tasks/{task_id}/retry", headers=auth(user_key))
    assert response.status_code == 409, response.text
    assert response.json()["details"]["missing_secrets"] == sorted(SECRETS)
    assert "DB_PASSWORD, HF_TOKEN" in response.json()["error"]
    partial = await client.post(
        f"/v1/tasks/{task_id}/retry", headers=auth(user_key), json={"secrets": {"HF_TOKEN": "hf-partial-1"}}
    )
    assert partial.status_code == 409
    assert partial.json()["details"]["missing_secrets"] == ["DB_PASSWORD"]
    unknown = await client.post(
        f"/v1/tasks/{task_id}/retry",
        headers=auth(user_key),
        json={"secrets": {**SECRETS, "OTHER": "other-value"}},
    )
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["details"]["field"] == "secrets"
    assert (await stored(db, task_id)).status == "failed"  # refused retries changed nothing

    again = {"HF_TOKEN": "new-hf-value-111111", "DB_PASSWORD": "new-pw-value-222222"}
    response = await client.post(
        f"/v1/tasks/{task_id}/retry", headers=auth(user_key), json={"secrets": again}
    )
    assert response.status_code == 200, response.text
    assert "secrets" not in response.json() and again["HF_TOKEN"] not in response.text
    assert (await worker.claim(task_id))["secrets"] == again  # the new attempt sees them
    await worker.report(task_id, status="running")
    await worker.finish(task_id)
    assert (await stored(db, task_id)).secrets == {}

    # A task without secrets retries with no body, as before.
    plain = await submit(client, user_key)
    await worker.start(plain)
    await worker.report(plain, status="failed", exit_code=1)
    assert (await client.post(f"/v1/tasks/{plain}/retry", headers=auth(user_key))).status_code == 200


async def test_cancelling_a_sweep_erases_its_queued_tasks_values(client, db, user_key):
    body = {
        "task": {
            "job_name": "train",
            "entrypoint": "python train.py",
            "args": ["{lr}", SECRETS["HF_TOKEN"]],
            "secrets": SECRETS,
        },
        "grid": {"lr": [0.1, 0.2]},
    }
    response = await client.post("/v1/sweeps", headers=auth(user_key), json=body)
    assert response.status_code == 201, response.text
    sweep_id = response.json()["id"]
    listed = await client.get("/v1/tasks", headers=auth(user_key), params={"sweep_id": sweep_id, "limit": 10})
    ids = [task["id"] for task in listed.json()["tasks"]]
    assert len(ids) == 2
    for task_id in ids:
        assert (await stored(db, task_id)).secrets == SECRETS
    assert (await client.delete(f"/v1/sweeps/{sweep_id}", headers=auth(user_key))).status_code == 200
    for task_id in ids:
        row = await stored(db, task_id)
        assert (row.status, row.secrets, row.secret_names) == ("cancelled", {}, sorted(SECRETS))
        # A value passed literally as an argument stays hidden in the views after the values are gone.
        task = await task_of(client, user_key, task_id)
        assert task["args"][1] == "<redacted>" and SECRETS["HF_TOKEN"] not in str(task)


# A value passed literally in every text a user gives a task (besides `secrets`, where it belongs).
LITERAL: dict[str, Any] = {
    "job_name": f"job-{SECRETS['HF_TOKEN']}",
    "run_label": f"label {SECRETS['DB_PASSWORD']}",
    "args": ["--token", SECRETS["HF_TOKEN"], f"--db={SECRETS['DB_PASSWORD']}"],
    "env": {"TOKEN_COPY": SECRETS["HF_TOKEN"]},
    "metadata": {"note": f"uses {SECRETS['HF_TOKEN']}", SECRETS["DB_PASSWORD"]: "as a key"},
}


def _texts(row: TaskRow) -> str:
    """Every column of the stored row as text (what a reader of the database file would see)."""
    return repr({column.key: getattr(row, column.key) for column in TaskRow.__mapper__.column_attrs})


async def _audit_texts(db: Database, task_id: str) -> str:
    from sqlalchemy import select

    from runplane.store.tables import AuditEventRow

    async with db.reader() as session:
        rows = (
            await session.scalars(select(AuditEventRow).where(AuditEventRow.resource == f"task/{task_id}"))
        ).all()
    assert rows
    return repr([(row.event_type, row.error, row.metadata_) for row in rows])


async def test_values_passed_literally_in_the_texts_are_erased_too_and_come_back_on_retry(
    client, db, manager, worker_key, user_key, caplog
):
    worker = await FakeWorker(client, worker_key).register()
    ended: list[str] = []
    # completed
    completed = await submit(client, user_key, secrets=SECRETS, **LITERAL)
    await worker.start(completed)
    await worker.finish(completed)
    ended.append(completed)
    # failed for good
    failed = await submit(client, user_key, secrets=SECRETS, **LITERAL)
    await worker.start(failed)
    await worker.report(failed, status="failed", exit_code=1)
    ended.append(failed)
    # cancelled while queued (a bulk write that reads nothing first)
    queued = await submit(client, user_key, secrets=SECRETS, **LITERAL)
    assert (await client.delete(f"/v1/tasks/{queued}", headers=auth(user_key))).status_code in (200, 202, 204)
    ended.append(queued)
    # its worker lost, no retry left (the reaper fails it)
    lost = await submit(client, user_key, secrets=SECRETS, max_retries=0, **LITERAL)
    await worker.start(lost)
    await end_lease(db, worker.worker_id)
    assert lost in (await manager.reap()).failed
    ended.append(lost)
    for task_id in ended:
        row = await stored(db, task_id)
        assert row.secrets == {}
        for value in SECRETS.values():
            assert value not in _texts(row), task_id
            assert value not in await _audit_texts(db, task_id), task_id
        # The views show the texts redacted, as they did while the values were stored.
        task = await task_of(client, user_key, task_id)
        assert task["args"] == ["--token", "<redacted>", "--db=<redacted>"]
        assert task["job_name"] == "job-<redacted>" and task["env"]["TOKEN_COPY"] == "<redacted>"
    # The server's transition lines never carried a value either.
    for value in SECRETS.values():
        assert value not in caplog.text

    # A retry given the values again runs the same command with them (new values where the old ones were).
    again = {"HF_TOKEN": "new-hf-value-111111", "DB_PASSWORD": "new-pw-value-222222"}
    response = await client.post(f"/v1/tasks/{failed}/retry", headers=auth(user_key), json={"secrets": again})
    assert response.status_code == 200, response.text
    assert again["HF_TOKEN"] not in response.text and again["DB_PASSWORD"] not in response.text
    worker = await FakeWorker(client, worker_key).register()
    assignment = await worker.claim(failed)
    assert assignment["args"] == ["--token", again["HF_TOKEN"], f"--db={again['DB_PASSWORD']}"]
    assert assignment["job_name"] == f"job-{again['HF_TOKEN']}"
    assert assignment["secrets"] == again


def _migrate_to(url: str, revision: str, *, down: bool) -> None:
    from alembic import command
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from runplane.store.database import alembic_config, sync_url

    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)
    finally:
        engine.dispose()


async def test_the_migration_erases_the_values_of_tasks_that_ended_before_it(database_url):
    from generated.models import TaskCreate
    from runplane.store.database import Database
    from runplane.tasks import new_task_row

    db = Database(database_url)
    ended = new_task_row(
        "alice",
        TaskCreate.model_validate(
            {"job_name": "old", "entrypoint": f"python t.py {SECRETS['HF_TOKEN']}", "secrets": SECRETS}
        ),
    )
    ended.status = "completed"
    waiting = new_task_row(
        "alice", TaskCreate.model_validate({"job_name": "q", "entrypoint": "x", "secrets": SECRETS})
    )
    async with db.session() as session:
        session.add_all([ended, waiting])
    await db.close()
    # The database as it was before 0009_secret_names (values of ended tasks kept), then migrated.
    await asyncio.to_thread(_migrate_to, database_url, "0008_plugins", down=True)
    await asyncio.to_thread(_migrate_to, database_url, "head", down=False)
    db = Database(database_url)
    try:
        old, queued = await stored(db, ended.id), await stored(db, waiting.id)
    finally:
        await db.close()
    assert (old.secrets, old.secret_names) == ({}, sorted(SECRETS))
    assert old.redacted_view is not None and old.redacted_view["entrypoint"] == "python t.py <redacted>"
    assert (queued.secrets, queued.secret_names) == (SECRETS, sorted(SECRETS))
