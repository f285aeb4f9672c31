"""`queue_stats` events follow the queue's figures (runplane.live.queue_stats), on both databases."""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from runplane import events
from runplane.live import queue_stats
from runplane.store.database import Database
from runplane.store.tables import EventRow
from tests.conftest import auth
from tests.support.worker_flow import FakeWorker

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

# Generous: the hub recounts within about a second of a change; a loaded machine may take longer.
SETTLE_SECONDS = 60.0


async def queue_events(db: Database) -> list[dict[str, Any]]:
    async with db.reader() as session:
        rows = await session.scalars(
            select(EventRow).where(EventRow.topic == events.QUEUE_STATS).order_by(EventRow.id)
        )
        return [{"data": row.data, "user_id": row.user_id, "task_id": row.task_id} for row in rows]


async def until_figures(db: Database, **expected: int) -> list[dict[str, Any]]:
    """Waits until the newest queue_stats event says `expected`; returns all of them."""
    figures = {"queued": 0, "preparing": 0, "running": 0, "collecting": 0, "workers": 0, **expected}
    with anyio.fail_after(SETTLE_SECONDS):
        while True:
            found = await queue_events(db)
            if found and found[-1]["data"] == figures:
                return found
            await anyio.sleep(0.1)


async def test_queue_stats_are_sent_when_the_figures_change(client, db, user_key, worker_key):
    tasks = []
    for name in ("a", "b"):
        response = await client.post(
            "/v1/tasks", headers=auth(user_key), json={"job_name": name, "entrypoint": "true"}
        )
        tasks.append(response.json()["id"])
    await until_figures(db, queued=2)

    worker = await FakeWorker(client, worker_key).register()
    await worker.claim(tasks[0])
    await until_figures(db, queued=1, preparing=1, workers=1)

    assert (await client.delete(f"/v1/tasks/{tasks[1]}", headers=auth(user_key))).status_code == 204
    sent = await until_figures(db, queued=0, preparing=1, workers=1)
    # Public events (every client may see the queue's size), never tied to a task or a user.
    assert all(event["user_id"] is None and event["task_id"] is None for event in sent)
    # Consecutive events differ: unchanged figures are not sent again.
    assert all(before["data"] != after["data"] for before, after in itertools.pairwise(sent))

    stream = await client.get("/v1/queue", headers=auth(user_key))
    assert {name: stream.json()[name] for name in ("queued", "preparing", "running", "workers")} == {
        "queued": 0,
        "preparing": 1,
        "running": 0,
        "workers": 1,
    }


async def test_unchanged_figures_are_not_sent_again(app, db):
    first = await queue_stats.publish_if_changed(db)
    assert first == {"queued": 0, "preparing": 0, "running": 0, "collecting": 0, "workers": 0}
    assert await queue_stats.publish_if_changed(db) is None
    assert [event["data"] for event in await queue_events(db)] == [first]
