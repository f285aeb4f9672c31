"""`queue_stats` events follow the queue's figures (runplane.live.queue_stats), on both databases."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from runplane import events
from runplane.app import build_services, create_app
from runplane.live import queue_stats
from runplane.live.hub import EventHub
from runplane.security import Principal
from runplane.services import Services
from runplane.settings import Settings
from runplane.store.database import Database
from runplane.store.tables import EventRow
from tests.conftest import auth
from tests.support.worker_flow import FakeWorker

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

WATCHER = Principal(user_id="watcher", role="user", key_id="k-watcher")


@pytest.fixture
def services(settings: Settings) -> Services:
    return build_services(settings)


@pytest.fixture
async def app(settings: Settings, services: Services) -> AsyncIterator[Any]:
    """The app on `services`, so that a test can subscribe to its hub as a live client would."""
    application = create_app(settings, services=services)
    async with LifespanManager(application) as manager:
        yield manager.app


@pytest.fixture
def hub(services: Services) -> EventHub:
    return services.hub


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


async def test_queue_stats_are_sent_when_the_figures_change(client, db, hub, user_key, worker_key):
    await hub.catch_up()
    watcher = hub.subscribe(WATCHER, "websocket")  # the dashboard's header: someone to tell
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

    hub.unsubscribe(watcher)

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


async def test_a_hub_nobody_watches_does_not_count_and_recounts_for_its_first_watcher(
    client, db, hub: EventHub, user_key
):
    """Without a subscriber that can receive them (a task's own stream cannot), a process neither counts
    the queue nor writes its figures; the first subscriber that can gets the figures as they are now."""
    await hub.catch_up()
    task_stream = hub.subscribe(WATCHER, "sse", task_id="t-none")
    response = await client.post(
        "/v1/tasks", headers=auth(user_key), json={"job_name": "a", "entrypoint": "true"}
    )
    assert response.status_code == 201
    with anyio.fail_after(SETTLE_SECONDS):
        while True:
            if hub._queue_stale:  # the change was seen and left uncounted
                break
            await anyio.sleep(0.05)
    assert await queue_events(db) == []
    hub.unsubscribe(task_stream)

    await hub.catch_up()
    with hub.subscription(WATCHER, "sse", topics=frozenset({events.QUEUE_STATS})):
        sent = await until_figures(db, queued=1)
    assert len(sent) == 1  # counted once, for the watcher
    assert not hub._queue_stale
