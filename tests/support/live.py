"""Helpers for the live-event tests: a real server per module, SSE parsing, a stalled WebSocket client,
driving tasks through the worker API, and the stored events (the truth the streams are checked against).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import or_, select

from runplane.live.hub import PUBLIC_TOPICS
from runplane.store.database import Database
from runplane.store.tables import EventRow
from tests.conftest import PostgresClones, _sqlalchemy_url, auth, fresh_sqlite
from tests.support.server import RunningServer, running_server
from tests.support.workers import free, registration

SERVER_ENV = {
    "RUNPLANE_RATE_LIMIT": "10000000/minute",
    "RUNPLANE_AUTH_FAILURE_LIMIT": "10000000/minute",
    # Workers registered by a test must not be reaped (and their tasks requeued) while the module runs.
    "RUNPLANE_LEASE_SECONDS": "3600",
    "RUNPLANE_WS_AUTH_TIMEOUT_SECONDS": "1",
}
DEADLINE = 30.0


# --- a database and a server per test module ------------------------------------------------------


@contextmanager
def module_database(request: pytest.FixtureRequest, tmp: Path) -> Iterator[str]:
    """A fresh migrated database on the backend named by `request.param` ("sqlite" or "postgres")."""
    if request.param == "sqlite":
        yield fresh_sqlite(request, tmp / "runplane.sqlite3")
        return
    clones: PostgresClones = request.getfixturevalue("postgres_clones")
    name = clones.take()
    try:
        yield _sqlalchemy_url(name)
    finally:
        clones.give_back(name)


@dataclass(frozen=True)
class Live:
    """A running server and its keys: admin, two users (alice, bob) and a worker."""

    server: RunningServer
    database_url: str
    admin: str
    alice: str
    bob: str
    worker: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def ws_url(self) -> str:
        return self.server.base_url.replace("http://", "ws://", 1) + "/ws"

    @property
    def port(self) -> int:
        return int(self.server.base_url.rsplit(":", 1)[1])


def _create_key(server: RunningServer, name: str, role: str, user_id: str | None = None) -> str:
    body: dict[str, Any] = {"name": name, "role": role}
    if user_id is not None:
        body["user_id"] = user_id
    response = httpx.post(
        f"{server.base_url}/v1/keys", headers=auth(server.admin_key), json=body, timeout=DEADLINE
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


@contextmanager
def live_server(
    root: Path, database_url: str, *, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[Live]:
    """A server on `database_url` (servers may share one: key names get the directory's name)."""
    server_env = {**SERVER_ENV, "RUNPLANE_DATABASE_URL": database_url, **(env or {})}
    tag = root.name
    with running_server(root / "server", workers=workers, env=server_env) as server:
        yield Live(
            server=server,
            database_url=database_url,
            admin=server.admin_key,
            alice=_create_key(server, f"alice-{tag}", "user", "alice"),
            bob=_create_key(server, f"bob-{tag}", "user", "bob"),
            worker=_create_key(server, f"worker-{tag}", "worker", "fleet"),
        )


# --- the truth: what the event log holds ----------------------------------------------------------


async def stored_events(
    database_url: str, *, after: int = 0, task_id: str | None = None, visible_to: str | None = None
) -> list[dict[str, Any]]:
    """The stored events as StreamEvent-like dicts (type, id, data), in id order."""
    db = Database(database_url)
    try:
        query = select(EventRow).where(EventRow.id > after).order_by(EventRow.id)
        if task_id is not None:
            query = query.where(EventRow.task_id == task_id)
        if visible_to is not None:
            query = query.where(or_(EventRow.user_id == visible_to, EventRow.topic.in_(PUBLIC_TOPICS)))
        async with db.reader() as session:
            rows = (await session.execute(query)).scalars().all()
        return [{"type": row.topic, "id": row.id, "data": row.data} for row in rows]
    finally:
        await db.close()


def without_queue_stats(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`events` less `queue_stats`: hubs append those asynchronously after changes (at most once a second),
    so one may land anywhere around a test's own events; tests of other topics compare without them."""
    return [event for event in events if event["type"] != "queue_stats"]


async def newest_event_id(database_url: str) -> int:
    events = await stored_events(database_url)
    return events[-1]["id"] if events else 0


# --- driving tasks through the worker API ---------------------------------------------------------


class TaskDriver:
    """Acts as a worker agent over HTTP: registers once, then claims and reports the given tasks."""

    def __init__(self, http: httpx.AsyncClient, live: Live, name: str) -> None:
        self.http = http
        self.live = live
        self.name = name
        self.worker_id: str | None = None

    async def register(self) -> str:
        response = await self.http.post(
            "/v1/workers", headers=auth(self.live.worker), json=registration(self.name, slots=8)
        )
        assert response.status_code == 201, response.text
        self.worker_id = response.json()["worker_id"]
        return self.worker_id

    async def submit(self, key: str, name: str = "live") -> str:
        response = await self.http.post(
            "/v1/tasks", headers=auth(key), json={"job_name": name, "entrypoint": "python train.py"}
        )
        assert response.status_code == 201, response.text
        task_id: str = response.json()["id"]
        return task_id

    async def claim(self, task_id: str) -> None:
        worker_id = self.worker_id or await self.register()
        response = await self.http.post(
            f"/v1/workers/{worker_id}/claim", headers=auth(self.live.worker), json=free(slots=1)
        )
        assert response.status_code == 200, response.text
        assignment = response.json().get("assignment")
        assert assignment is not None and assignment["task_id"] == task_id, assignment

    async def report(self, task_id: str, **body: Any) -> None:
        response = await self.http.post(
            f"/v1/workers/{self.worker_id}/tasks/{task_id}/report", headers=auth(self.live.worker), json=body
        )
        assert response.status_code == 200, response.text

    async def run(self, task_id: str, progress: tuple[float, ...] = (25, 50, 75)) -> None:
        """Claims `task_id` and takes it through running (with progress), collecting and completed."""
        await self.claim(task_id)
        await self.report(task_id, status="running")
        for value in progress:
            await self.report(task_id, progress=value, message=f"at {value}")
        await self.report(task_id, status="collecting")
        await self.report(task_id, status="completed", progress=100)


# --- SSE ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SseEvent:
    id: int
    event: str
    data: dict[str, Any]


async def sse_items(response: httpx.Response) -> AsyncGenerator[SseEvent | str]:
    """The stream's events, and its comments as strings (": keep-alive")."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield line
        elif line == "":
            if "data" in fields:
                yield SseEvent(int(fields["id"]), fields["event"], json.loads(fields["data"]))
            fields = {}
        else:
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value


class SseReader:
    """Reads one SSE response in steps (an httpx stream can be iterated only once)."""

    def __init__(self, response: httpx.Response) -> None:
        self.items = sse_items(response)
        self.ended = False

    async def next_item(self, deadline: float = DEADLINE) -> SseEvent | str | None:
        """The next event or comment; None when the stream has ended."""
        async with asyncio.timeout(deadline):
            try:
                return await anext(self.items)
            except StopAsyncIteration:
                self.ended = True
                return None

    async def events(self, count: int | None = None, deadline: float = DEADLINE) -> list[SseEvent]:
        """The next `count` events, or all of them until the stream ends; fails past the deadline."""
        seen: list[SseEvent] = []
        async with asyncio.timeout(deadline):
            while count is None or len(seen) < count:
                item = await self.next_item(deadline)
                if item is None:
                    break
                if isinstance(item, SseEvent):
                    seen.append(item)
        return seen

    async def until(self, done: Callable[[SseEvent], bool], deadline: float = DEADLINE) -> list[SseEvent]:
        """Events up to and including the first for which `done` is true; fails if the stream ends first."""
        seen: list[SseEvent] = []
        async with asyncio.timeout(deadline):
            while not seen or not done(seen[-1]):
                item = await self.next_item(deadline)
                assert item is not None, f"the stream ended after {seen}"
                if isinstance(item, SseEvent):
                    seen.append(item)
        return seen

    async def aclose(self) -> None:
        await self.items.aclose()


async def sse_events(
    response: httpx.Response, *, count: int | None = None, deadline: float = DEADLINE
) -> list[SseEvent]:
    """Reads events until the stream ends (or `count` events were read); fails past the deadline."""
    reader = SseReader(response)
    try:
        return await reader.events(count, deadline)
    finally:
        await reader.aclose()


def as_stored(events: list[SseEvent]) -> list[dict[str, Any]]:
    """SSE events in the shape of `stored_events` (checking that each frame agrees with its data)."""
    shaped = []
    for event in events:
        assert event.data["id"] == event.id and event.data["type"] == event.event, event
        assert set(event.data) == {"type", "id", "ts", "data"}, event
        shaped.append({"type": event.event, "id": event.id, "data": event.data["data"]})
    return shaped


# --- a deliberately stalled WebSocket client -------------------------------------------------------


class StalledClient:
    """A WebSocket client that subscribes to everything and then never reads its socket.

    Its receive buffer is made small, but the kernel still holds megabytes between the server and it;
    the server's per-client queue overflows only once that is full.
    """

    def __init__(self, port: int, key: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(DEADLINE)
        self.sock.connect(("127.0.0.1", port))
        nonce = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\nX-API-Key: {key}\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            assert chunk, "connection closed during the handshake"
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        self.send_text(json.dumps({"type": "subscribe", "message_types": ["*"]}))

    def send_text(self, text: str) -> None:
        payload = text.encode()
        assert len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)

    def drain(self, deadline: float = DEADLINE) -> list[tuple[int, bytes]]:
        """Reads until the server closes the connection (or sends a close frame): the frames as
        (opcode, payload)."""
        end = time.monotonic() + deadline
        data = bytearray(self.buffer)
        frames: list[tuple[int, bytes]] = []
        position = 0
        while time.monotonic() < end:
            position = _frames(data, position, frames)
            if frames and frames[-1][0] == 0x8:
                break  # the close frame: nothing follows it
            self.sock.settimeout(max(0.1, end - time.monotonic()))
            try:
                chunk = self.sock.recv(1 << 20)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
        return frames

    def close(self) -> None:
        self.sock.close()


def _frames(data: bytearray, position: int, frames: list[tuple[int, bytes]]) -> int:
    """Appends the complete frames of `data` from `position` to `frames`; returns where the rest starts."""
    while len(data) - position >= 2:
        opcode, length, offset = data[position] & 0x0F, data[position + 1] & 0x7F, position + 2
        if length == 126:
            if len(data) - position < 4:
                break
            length, offset = struct.unpack_from("!H", data, position + 2)[0], position + 4
        elif length == 127:
            if len(data) - position < 10:
                break
            length, offset = struct.unpack_from("!Q", data, position + 2)[0], position + 10
        if len(data) < offset + length:
            break
        frames.append((opcode, bytes(data[offset : offset + length])))
        position = offset + length
    return position


def close_code(payload: bytes) -> tuple[int, str]:
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode()
