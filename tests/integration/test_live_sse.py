"""The SSE streams against a real server (two gunicorn workers, so a reconnect may reach the other
process) on SQLite and PostgreSQL. Events are produced by driving tasks through the worker API; every
stream is checked against the event log itself (`EventRow`), the truth every process reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from tests.conftest import auth
from tests.support.errors import assert_error
from tests.support.live import (
    DEADLINE,
    Live,
    SseEvent,
    SseReader,
    TaskDriver,
    as_stored,
    live_server,
    module_database,
    newest_event_id,
    sse_events,
    stored_events,
    without_queue_stats,
)

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

TASK_STATUSES = ["queued", "preparing", "running", "collecting", "completed"]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp(f"live-sse-{request.param}")
    with (
        module_database(request, root) as database_url,
        live_server(root, database_url, workers=2, env={"RUNPLANE_SSE_KEEPALIVE_SECONDS": "0.5"}) as server,
    ):
        yield server


@pytest.fixture
async def http(live: Live) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.base_url, timeout=DEADLINE) as client:
        yield client


def statuses(events: list[SseEvent]) -> list[str]:
    return [e.data["data"]["status"] for e in events if e.event == "task_update"]


def reported_progress(events: list[SseEvent]) -> list[float]:
    # Progress the worker reported (a queued task may also get progress-0 events: its waiting message).
    return [
        e.data["data"]["progress"]
        for e in events
        if e.event == "task_progress" and e.data["data"]["progress"]
    ]


def status_is(status: str) -> Callable[[SseEvent], bool]:
    return lambda e: e.event == "task_update" and e.data["data"]["status"] == status


def progress_is(value: float) -> Callable[[SseEvent], bool]:
    return lambda e: e.event == "task_progress" and e.data["data"]["progress"] == value


async def test_a_job_stream_shows_every_transition_in_order_and_ends(live: Live, http: httpx.AsyncClient):
    driver = TaskDriver(http, live, "sse-follow")
    task_id = await driver.submit(live.alice)
    async with http.stream("GET", f"/v1/scheduler/jobs/{task_id}/stream", headers=auth(live.alice)) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache"
        assert stream.headers["x-accel-buffering"] == "no"
        await driver.run(task_id, progress=(20, 40, 60, 80))
        seen = await sse_events(stream)  # returns only because the server ends the stream

    assert as_stored(seen) == await stored_events(live.database_url, task_id=task_id)
    assert statuses(seen) == TASK_STATUSES
    assert reported_progress(seen) == [20, 40, 60, 80]
    assert seen[-1].event == "task_complete" and seen[-1].data["data"]["status"] == "completed"
    assert [e.id for e in seen] == sorted({e.id for e in seen})


async def test_resuming_with_last_event_id_loses_and_repeats_nothing(live: Live, http: httpx.AsyncClient):
    driver = TaskDriver(http, live, "sse-resume")
    task_id = await driver.submit(live.alice)
    path = f"/v1/scheduler/jobs/{task_id}/stream"
    await driver.claim(task_id)
    await driver.report(task_id, status="running")
    async with http.stream("GET", path, headers=auth(live.alice)) as stream:
        reader = SseReader(stream)
        first = await reader.until(status_is("running"))  # queued, preparing, running; then the client goes
        await reader.aclose()
    assert statuses(first) == ["queued", "preparing", "running"]

    # While nobody listens the task moves on; then the client comes back with its last id.
    for value in (10, 30, 50):
        await driver.report(task_id, progress=value)
    headers = {**auth(live.alice), "Last-Event-ID": str(first[-1].id)}
    async with http.stream("GET", path, headers=headers) as stream:
        reader = SseReader(stream)
        replayed = await reader.until(progress_is(50))
        await driver.report(task_id, progress=90)
        await driver.report(task_id, status="collecting")
        await driver.report(task_id, status="completed", progress=100)
        rest = await reader.events()
        assert reader.ended

    whole = first + replayed + rest
    assert as_stored(whole) == await stored_events(live.database_url, task_id=task_id)
    assert reported_progress(replayed) == [10, 30, 50]
    assert len({e.id for e in whole}) == len(whole)
    assert whole[-1].event == "task_complete"

    # Once the task has ended, a resume replays what the client missed and ends at once.
    headers = {**auth(live.alice), "Last-Event-ID": str(replayed[-1].id)}
    async with http.stream("GET", path, headers=headers) as stream:
        assert as_stored(await sse_events(stream)) == as_stored(rest)


async def test_the_scheduler_stream_is_live_resumable_and_tenant_scoped(live: Live, http: httpx.AsyncClient):
    driver = TaskDriver(http, live, "sse-status")
    start = await newest_event_id(live.database_url)
    async with http.stream("GET", "/v1/scheduler/status/stream", headers=auth(live.alice)) as stream:
        assert stream.status_code == 200
        reader = SseReader(stream)
        item = await reader.next_item()
        # Before the stream idles: figures of earlier tests' work, and their last events when this
        # process's hub had not yet polled them (a new subscriber starts at the hub's cursor, which may
        # trail the table by one poll).
        while isinstance(item, SseEvent) and (item.event == "queue_stats" or item.id <= start):
            item = await reader.next_item()
        assert item == ": keep-alive"  # idle: a comment every 0.5 s
        bobs = await driver.submit(live.bob, "bobs")
        await driver.run(bobs)
        alices = await driver.submit(live.alice, "alices")
        await driver.run(alices, progress=(50,))
        live_events: list[SseEvent] = []
        async with asyncio.timeout(DEADLINE):
            while not (live_events and live_events[-1].event == "task_complete"):
                item = await reader.next_item()
                assert item is not None, "the stream ended"
                if isinstance(item, SseEvent):
                    live_events.append(item)
        await reader.aclose()

    visible = await stored_events(live.database_url, after=start, visible_to="alice")
    assert without_queue_stats(as_stored(live_events)) == without_queue_stats(visible)
    assert {e.data["data"].get("task_id") for e in live_events} <= {alices, None}  # never bob's task
    assert any(e.event == "worker_status" for e in live_events)  # worker changes go to everyone

    # Resume from the middle: exactly the rest, in order.
    middle = live_events[len(live_events) // 2]
    rest = [e for e in visible if e["id"] > middle.id]
    headers = {**auth(live.alice), "Last-Event-ID": str(middle.id)}
    async with http.stream("GET", "/v1/scheduler/status/stream", headers=headers) as stream:
        resumed = await sse_events(stream, count=len(rest))
    assert as_stored(resumed) == rest

    # An admin sees bob's task as well.
    headers = {**auth(live.admin), "Last-Event-ID": str(start)}
    everything = await stored_events(live.database_url, after=start)
    async with http.stream("GET", "/v1/scheduler/status/stream", headers=headers) as stream:
        assert as_stored(await sse_events(stream, count=len(everything))) == everything


async def test_other_users_and_unknown_tasks_are_404_before_the_stream(live: Live, http: httpx.AsyncClient):
    driver = TaskDriver(http, live, "sse-404")
    bobs = await driver.submit(live.bob, "private")
    response = await http.get(f"/v1/scheduler/jobs/{bobs}/stream", headers=auth(live.alice))
    assert_error(response, 404, "NOT_FOUND", "Task not found", {"task_id": bobs})
    response = await http.get("/v1/scheduler/jobs/0123456789abcdef/stream", headers=auth(live.alice))
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
    response = await http.get("/v1/scheduler/status/stream")
    assert response.status_code == 401 and response.json()["code"] == "UNAUTHORIZED"
    response = await http.get("/v1/scheduler/status/stream", headers=auth(live.worker))
    assert response.status_code == 403 and response.json()["code"] == "FORBIDDEN"
    # HEAD answers the headers and ends (the connection stays usable).
    response = await http.head("/v1/scheduler/status/stream", headers=auth(live.alice))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert (await http.get(f"/v1/tasks/{bobs}", headers=auth(live.bob))).status_code == 200
    # A cancelled task is terminal: its stream replays its whole story and ends.
    assert (await http.delete(f"/v1/tasks/{bobs}", headers=auth(live.bob))).status_code == 204
    async with http.stream("GET", f"/v1/scheduler/jobs/{bobs}/stream", headers=auth(live.bob)) as stream:
        seen = await sse_events(stream)
    assert statuses(seen) == ["queued", "cancelled"] and seen[-1].event == "task_complete"
