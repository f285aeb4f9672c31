"""The `/ws` endpoint against a real server, on SQLite and PostgreSQL.

One server process (so that one client's events and another's arrive from the same hub, and a `pong`
after a witness has seen the last event proves nothing more is coming); events come from tasks driven
through the worker API, except in the stalled-client test, which appends large events to the log
directly (through `runplane.events.record`, the path every change takes): loopback socket buffers hold
megabytes, and only once they are full does a client that never reads fall behind its queue.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from runplane.store import events
from runplane.store.database import Database
from tests.conftest import auth
from tests.support.errors import assert_error
from tests.support.live import (
    DEADLINE,
    Live,
    StalledClient,
    TaskDriver,
    close_code,
    live_server,
    module_database,
    newest_event_id,
    stored_events,
    without_queue_stats,
)

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

STALL_QUEUE = 16
MAX_CONNECTIONS = 3


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Any]]:
    root = tmp_path_factory.mktemp(f"live-ws-{request.param}")
    with module_database(request, root) as database_url:
        yield database_url, root


@pytest.fixture(scope="module")
def live(backend: tuple[str, Any]) -> Iterator[Live]:
    database_url, root = backend
    with live_server(root / "main", database_url) as server:
        yield server


@pytest.fixture
async def http(live: Live) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.base_url, timeout=DEADLINE) as client:
        yield client


OPENED: list[ClientConnection] = []


@pytest.fixture(autouse=True)
async def _close_sockets() -> AsyncIterator[None]:
    """Every socket a test opened is closed when it ends, passed or failed."""
    yield
    while OPENED:
        await OPENED.pop().close()


async def open_ws(live: Live, key: str | None, types: list[str] | None = None) -> ClientConnection:
    headers = auth(key) if key else None
    ws = await connect(live.ws_url, additional_headers=headers, open_timeout=DEADLINE)
    OPENED.append(ws)
    if types is not None:
        await ws.send(json.dumps({"type": "subscribe", "message_types": types}))
        assert json.loads(await recv(ws)) == {"type": "subscribed", "message_types": types}
    return ws


async def recv(ws: ClientConnection) -> str | bytes:
    async with asyncio.timeout(DEADLINE):
        return await ws.recv()


async def control_reply(ws: ClientConnection) -> dict[str, Any]:
    """The next message that is not a `queue_stats` event (those come whenever the queue changed)."""
    while (message := json.loads(await recv(ws)))["type"] == "queue_stats":
        pass
    return dict(message)


async def receive_until(ws: ClientConnection, done: Any) -> list[dict[str, Any]]:
    """Messages until `done(message)` is true (that one included)."""
    seen: list[dict[str, Any]] = []
    while not seen or not done(seen[-1]):
        seen.append(json.loads(await recv(ws)))
    return seen


async def fence(
    witness: ClientConnection, last_id: int, *sockets: ClientConnection
) -> list[list[dict[str, Any]]]:
    """What each socket was sent up to event `last_id`: once the witness (subscribed to all, same process)
    has that event, every event up to it is in each socket's queue already; a ping's pong follows them."""
    await receive_until(witness, lambda m: m.get("id", 0) >= last_id)
    received = []
    for ws in sockets:
        await ws.send(json.dumps({"type": "ping"}))
        received.append((await receive_until(ws, lambda m: m["type"] == "pong"))[:-1])
    return received


def shaped(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for message in messages:
        assert set(message) == {"type", "id", "ts", "data"}, message
    return [{"type": m["type"], "id": m["id"], "data": m["data"]} for m in messages]


async def test_subscribing_to_one_type_receives_only_that_type(live: Live, http: httpx.AsyncClient):
    driver = TaskDriver(http, live, "ws-one-type")
    start = await newest_event_id(live.database_url)
    progress = await open_ws(live, live.alice, ["task_progress"])
    witness = await open_ws(live, live.admin, ["*"])
    task_id = await driver.submit(live.alice)
    await driver.run(task_id, progress=(10, 20, 30))
    [received] = await fence(witness, await newest_event_id(live.database_url), progress)

    stored = await stored_events(live.database_url, after=start, task_id=task_id)
    assert shaped(received) == [e for e in stored if e["type"] == "task_progress"]
    # (a queued task may also get progress-0 events: its waiting message)
    assert [m["data"]["progress"] for m in received if m["data"]["progress"]] == [10, 20, 30]
    await progress.close()
    await witness.close()


async def test_the_wildcard_receives_every_type_the_user_may_see(live: Live, http: httpx.AsyncClient):
    driver = TaskDriver(http, live, "ws-wildcard")
    start = await newest_event_id(live.database_url)
    everything = await open_ws(live, live.alice, ["*"])
    witness = await open_ws(live, live.admin, ["*"])
    await driver.register()  # a worker_status event
    task_id = await driver.submit(live.alice)
    await driver.run(task_id, progress=(50,))
    [received] = await fence(witness, await newest_event_id(live.database_url), everything)

    stored = await stored_events(live.database_url, after=start, visible_to="alice")
    assert without_queue_stats(shaped(received)) == without_queue_stats(stored)
    assert {m["type"] for m in without_queue_stats(received)} == {
        "worker_status",
        "task_update",
        "task_progress",
        "task_complete",
    }
    assert [m["id"] for m in received] == sorted(m["id"] for m in received)
    await everything.close()
    await witness.close()


async def test_ping_unsubscribe_and_bad_messages_keep_the_socket_open(live: Live):
    ws = await open_ws(live, live.alice)
    await ws.send(json.dumps({"type": "ping"}))
    assert json.loads(await recv(ws)) == {"type": "pong"}

    bad = {
        "not json {": "message is not valid JSON",
        '["subscribe"]': "message must be a JSON object",
        '{"type": "subscribe", "message_types": ["task_update", "nope"]}': (
            "unknown message_types 'nope'; use queue_stats, task_complete, task_progress, task_update, "
            "worker_status or '*'"
        ),
        '{"type": "subscribe", "message_types": "task_update"}': (
            "message_types must be a list of 1 to 16 of: queue_stats, task_complete, task_progress, "
            "task_update, worker_status or '*'"
        ),
        '{"type": "launch"}': "unknown message type 'launch'; use subscribe, unsubscribe or ping",
        '{"type": "auth", "api_key": "x"}': "already authenticated",
    }
    for message, error in bad.items():
        await ws.send(message)
        assert json.loads(await recv(ws)) == {"type": "error", "error": error, "code": "BAD_REQUEST"}

    await ws.send(json.dumps({"type": "subscribe", "message_types": ["task_update", "task_complete"]}))
    assert json.loads(await recv(ws)) == {
        "type": "subscribed",
        "message_types": ["task_complete", "task_update"],
    }
    await ws.send(json.dumps({"type": "unsubscribe", "message_types": ["task_update"]}))
    assert json.loads(await recv(ws)) == {"type": "unsubscribed", "message_types": ["task_complete"]}
    # Subscribed to everything, the socket may get public queue_stats figures between the replies.
    await ws.send(json.dumps({"type": "subscribe", "message_types": ["*"]}))
    assert await control_reply(ws) == {"type": "subscribed", "message_types": ["*"]}
    await ws.send(json.dumps({"type": "unsubscribe", "message_types": ["queue_stats"]}))
    assert await control_reply(ws) == {
        "type": "unsubscribed",
        "message_types": ["task_complete", "task_progress", "task_update", "worker_status"],
    }
    await ws.send(json.dumps({"type": "unsubscribe", "message_types": ["*"]}))
    assert await control_reply(ws) == {"type": "unsubscribed", "message_types": []}
    await ws.send(json.dumps({"type": "ping"}))
    assert json.loads(await recv(ws)) == {"type": "pong"}
    await ws.close()


async def test_without_a_valid_key_the_socket_is_closed_with_1008(live: Live):
    for key, reason in ((None, "authentication required"), ("rp_not-a-key", "invalid API key")):
        ws = await open_ws(live, key)
        with pytest.raises(ConnectionClosed):
            await recv(ws)
        assert ws.close_code == 1008 and ws.close_reason == reason

    ws = await open_ws(live, None)  # a first message that is not `auth`
    await ws.send(json.dumps({"type": "ping"}))
    with pytest.raises(ConnectionClosed):
        await recv(ws)
    assert ws.close_code == 1008

    ws = await open_ws(live, live.worker)  # the contract allows admin and user keys only
    with pytest.raises(ConnectionClosed):
        await recv(ws)
    assert ws.close_code == 1008 and ws.close_reason == "the worker role may not use /ws"


async def test_browsers_authenticate_with_a_first_message(live: Live, http: httpx.AsyncClient):
    ws = await open_ws(live, None)
    await ws.send(json.dumps({"type": "auth", "api_key": live.alice}))
    assert json.loads(await recv(ws)) == {"type": "authenticated"}
    await ws.send(json.dumps({"type": "subscribe", "message_types": ["task_update"]}))
    assert json.loads(await recv(ws))["type"] == "subscribed"
    driver = TaskDriver(http, live, "ws-browser")
    task_id = await driver.submit(live.alice)
    message = json.loads(await recv(ws))
    assert message["type"] == "task_update" and message["data"]["task_id"] == task_id
    await driver.run(task_id)
    await ws.close()


async def test_a_user_never_receives_another_users_task_events(live: Live, http: httpx.AsyncClient):
    driver = TaskDriver(http, live, "ws-tenancy")
    start = await newest_event_id(live.database_url)
    alice = await open_ws(live, live.alice, ["*"])
    bob = await open_ws(live, live.bob, ["*"])
    witness = await open_ws(live, live.admin, ["*"])
    bobs = await driver.submit(live.bob, "bobs")
    await driver.run(bobs)
    alices = await driver.submit(live.alice, "alices")
    await driver.run(alices)
    to_alice, to_bob = await fence(witness, await newest_event_id(live.database_url), alice, bob)

    for received, user in ((to_alice, "alice"), (to_bob, "bob")):
        stored = await stored_events(live.database_url, after=start, visible_to=user)
        assert without_queue_stats(shaped(received)) == without_queue_stats(stored)
    assert {m["data"]["task_id"] for m in to_alice if m["type"].startswith("task_")} == {alices}
    assert {m["data"]["task_id"] for m in to_bob if m["type"].startswith("task_")} == {bobs}
    for ws in (alice, bob, witness):
        await ws.close()


async def test_a_socket_that_subscribes_to_the_queue_figures_gets_them_though_nobody_counted(
    live: Live, http: httpx.AsyncClient
):
    """A process nobody could tell does not count the queue; a socket that subscribes to `queue_stats`
    later (a `subscribe` message, not the connection) makes it recount, instead of waiting for the next
    change."""
    driver = TaskDriver(http, live, "ws-figures")
    witness = await open_ws(live, live.admin, ["task_update"])  # hears of changes, not of figures
    task_id = await driver.submit(live.alice)
    await receive_until(witness, lambda m: m["type"] == "task_update" and m["data"]["task_id"] == task_id)
    # The change went uncounted (the queue_stats task runs at most once a second).
    await asyncio.sleep(2.0)
    start = await newest_event_id(live.database_url)
    figures = await open_ws(live, live.alice, ["queue_stats"])
    message = json.loads(await recv(figures))
    assert message["type"] == "queue_stats" and message["id"] > start
    queue = (await http.get("/v1/queue", headers=auth(live.alice))).json()
    assert message["data"]["queued"] == queue["queued"]
    for ws in (witness, figures):
        await ws.close()


async def test_a_plain_http_get_of_ws_is_426(live: Live, http: httpx.AsyncClient):
    response = await http.get("/ws", headers=auth(live.alice))
    assert_error(response, 426, "UPGRADE_REQUIRED", "Use a WebSocket to connect here")
    assert response.headers["upgrade"] == "websocket"


async def test_the_426_answer_is_the_contracts(client: httpx.AsyncClient, user_key: str):
    # In process: the `client` fixture checks every answer against openapi.yaml.
    response = await client.get("/ws", headers=auth(user_key))
    assert_error(response, 426, "UPGRADE_REQUIRED", "Use a WebSocket to connect here")


# --- limits: a server with a small queue per client and few connections ---------------------------


@pytest.fixture(scope="module")
def tight(backend: tuple[str, Any]) -> Iterator[Live]:
    database_url, root = backend
    env = {"RUNPLANE_WS_QUEUE_SIZE": str(STALL_QUEUE), "RUNPLANE_WS_MAX_CONNECTIONS": str(MAX_CONNECTIONS)}
    with live_server(root / "tight", database_url, env=env) as server:
        yield server


async def append_events(database_url: str, count: int, size: int) -> None:
    """`count` worker_status events (visible to everyone) of about `size` bytes each."""
    db = Database(database_url)
    try:
        for start in range(0, count, 50):
            async with db.session() as session:
                for index in range(start, min(count, start + 50)):
                    await events.record(
                        session,
                        topic=events.WORKER_STATUS,
                        worker_id="bulk",
                        data={
                            "worker_id": "bulk",
                            "name": "bulk",
                            "status": "active",
                            "change": "registered",
                            "index": index,
                            "padding": "x" * size,
                        },
                    )
    finally:
        await db.close()


async def test_a_stalled_client_is_dropped_while_a_healthy_one_keeps_receiving(tight: Live):
    stalled = await asyncio.to_thread(StalledClient, tight.port, tight.alice)
    try:
        healthy = await open_ws(tight, tight.bob, ["*"])
        count, size = 400, 32_000  # ~13 MB: well past what the loopback buffers hold
        writer = asyncio.create_task(append_events(tight.database_url, count, size))
        indexes: list[int] = []
        async with asyncio.timeout(DEADLINE * 2):
            while len(indexes) < count:
                message = json.loads(await healthy.recv())
                if message["data"].get("worker_id") == "bulk":
                    indexes.append(message["data"]["index"])
        await writer
        assert indexes == list(range(count))  # every event, in order, while the other client stalled

        frames = await asyncio.to_thread(stalled.drain)
        received = [f for f in frames if f[0] == 0x1 and b'"worker_id":"bulk"' in f[1]]
        assert len(received) < count  # it was cut off
        closing = [payload for opcode, payload in frames if opcode == 0x8]
        if closing:  # the close frame, if the server could still write it (else the socket just ended)
            assert close_code(closing[0]) == (1013, "too slow: event queue full")
        assert "live client dropped: too slow: event queue full" in tight.server.log()

        # The healthy client is still served (events, such as the queue figures the bulk changed, may come
        # before the answer).
        await healthy.send(json.dumps({"type": "ping"}))
        async with asyncio.timeout(DEADLINE):
            while (answer := json.loads(await recv(healthy)))["type"] != "pong":
                assert answer["type"] in ("queue_stats", "worker_status"), answer
        assert answer == {"type": "pong"}
        await healthy.close()
    finally:
        stalled.close()


async def accepted(ws: ClientConnection) -> bool:
    """Whether the server serves `ws` (answers a ping) rather than closing it."""
    try:
        await ws.send(json.dumps({"type": "ping"}))
        reply: dict[str, Any] = json.loads(await recv(ws))
        return reply == {"type": "pong"}
    except ConnectionClosed:
        return False


async def test_connections_beyond_the_maximum_are_refused_with_1013(tight: Live):
    opened: list[ClientConnection] = []
    async with asyncio.timeout(DEADLINE):
        while True:  # the stalled client of the test before may still hold a slot for a moment
            ws = await open_ws(tight, tight.alice)
            if not await accepted(ws):
                break
            opened.append(ws)
    assert ws.close_code == 1013 and ws.close_reason == "too many connections"
    assert 1 <= len(opened) <= MAX_CONNECTIONS
    await opened.pop().close()
    async with asyncio.timeout(DEADLINE):  # a slot is free again once a client has gone
        while not await accepted(await open_ws(tight, tight.alice)):
            pass
