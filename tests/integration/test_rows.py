"""`runplane.store.rows`: a task read through the tables' columns (`TASK_COLUMNS`, `task_from`) is the
task the ORM loads, column for column, on SQLite and PostgreSQL (types, JSON, timestamps, NULLs)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from runplane.store.rows import TASK_COLUMNS, TASKS, task_from
from runplane.store.tables import TaskRow
from tests.support.workers import claimed_id, register, submit

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def test_a_task_from_the_tables_columns_is_the_task_the_orm_loads(client, db, worker_key, user_key):
    worker_id = await register(client, worker_key)
    task_id = await submit(
        client,
        user_key,
        "rows",
        args=["--lr", "0.1"],
        env={"MODE": "x"},
        secrets={"TOKEN": "s3cr3t-value"},
        priority=3,
        max_retries=2,
        retry_on=["exit_code"],
    )
    assert await claimed_id(client, worker_key, worker_id) == task_id  # worker, message, times set
    async with db.reader() as session:
        loaded = await session.get(TaskRow, task_id)
        found = (await session.execute(select(*TASK_COLUMNS).where(TASKS.c.id == task_id))).one()
    assert loaded is not None
    made = task_from(found)
    keys = [attr.key for attr in TaskRow.__mapper__.column_attrs]
    assert {key: getattr(made, key) for key in keys} == {key: getattr(loaded, key) for key in keys}
    assert made.secrets == {"TOKEN": "s3cr3t-value"} and made.started_at is None
    made.message = "changed"  # transient: it can be changed, and nothing writes it
    assert made.message == "changed"
