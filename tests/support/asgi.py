"""Talking to the ASGI app directly, for what an HTTP client cannot express or cannot stream in process.

httpx normalises ``..`` segments away before sending and its in-process transport collects a whole
response before returning it; these helpers send a raw path as written and read a response as it streams.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import anyio
from anyio.abc import ObjectReceiveStream


def _scope(method: str, raw_path: str, headers: dict[str, str]) -> dict[str, Any]:
    path, _, query = raw_path.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


@dataclass
class StreamedResponse:
    messages: ObjectReceiveStream[dict[str, Any]]
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    finished: bool = False

    async def start(self) -> None:
        message = await self.messages.receive()
        assert message["type"] == "http.response.start", message
        self.status = message["status"]
        self.headers = {name.decode(): value.decode() for name, value in message["headers"]}

    async def next_chunk(self) -> bytes:
        """The next non-empty piece of the body, or b"" once the body has ended."""
        while not self.finished:
            message = await self.messages.receive()
            assert message["type"] == "http.response.body", message
            self.finished = not message.get("more_body", False)
            if message.get("body"):
                return bytes(message["body"])
        return b""

    async def rest(self) -> bytes:
        chunks = []
        while chunk := await self.next_chunk():
            chunks.append(chunk)
        return b"".join(chunks)


@asynccontextmanager
async def open_response(
    app: Any, method: str, raw_path: str, headers: dict[str, str] | None = None
) -> AsyncIterator[StreamedResponse]:
    """Send a request with an empty body and yield its response, its head already read."""
    send_stream, receive_stream = anyio.create_memory_object_stream[dict[str, Any]](0)
    disconnected = anyio.Event()
    request_sent = False

    async def receive() -> dict[str, Any]:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def run() -> None:
        async with send_stream:
            await app(_scope(method, raw_path, headers or {}), receive, send_stream.send)

    async with anyio.create_task_group() as group, receive_stream:
        group.start_soon(run)
        response = StreamedResponse(receive_stream)
        await response.start()
        try:
            yield response
        finally:
            disconnected.set()
            group.cancel_scope.cancel()


async def request(
    app: Any, method: str, raw_path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One whole exchange with a raw path (``..`` and all, exactly as given)."""
    async with open_response(app, method, raw_path, headers) as response:
        body = await response.rest()
        return response.status, response.headers, body
