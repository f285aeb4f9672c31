"""A revoked key stops receiving data on the streams it already holds: `/ws` closes with 4401, the job's
SSE stream and a followed log end. A real server with two gunicorn workers (the revocation may land in
the other process: the shared revocation epoch carries it), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import auth
from tests.support.live import DEADLINE, Live, live_server, module_database

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

# The stream re-checks its key about every second (runplane.security.KEY_RECHECK_SECONDS).
ENDS_WITHIN = 15.0


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp(f"revocation-{request.param}")
    with module_database(request, root) as database_url, live_server(root, database_url, workers=2) as server:
        yield server


@pytest.fixture
async def http(live: Live) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.base_url, timeout=DEADLINE) as client:
        yield client


async def new_key(http: httpx.AsyncClient, live: Live) -> tuple[str, str]:
    """A fresh user key (its secret, its id) and a queued task of that user nobody will run."""
    name = f"revoked-{os.urandom(4).hex()}"
    created = await http.post("/v1/keys", headers=auth(live.admin), json={"name": name, "role": "user"})
    assert created.status_code == 201, created.text
    return created.json()["key"], created.json()["id"]


async def revoke(http: httpx.AsyncClient, live: Live, key_id: str) -> None:
    response = await http.delete(f"/v1/keys/{key_id}", headers=auth(live.admin))
    assert response.status_code in (200, 204), response.text


async def queued_task(http: httpx.AsyncClient, key: str) -> str:
    response = await http.post(
        "/v1/tasks", headers=auth(key), json={"job_name": "held", "entrypoint": "python train.py"}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def read_to_end(response: httpx.Response) -> bytes:
    """The rest of a streamed answer; fails if it has not ended within ENDS_WITHIN seconds."""
    body = b""
    async with asyncio.timeout(ENDS_WITHIN):
        async for chunk in response.aiter_bytes():
            body += chunk
    return body


async def receive_until_closed(ws: ClientConnection) -> None:
    async with asyncio.timeout(ENDS_WITHIN):
        while True:
            await ws.recv()


async def test_a_websocket_is_closed_with_4401_when_its_key_is_revoked(live: Live, http: httpx.AsyncClient):
    key, key_id = await new_key(http, live)
    async with connect(live.ws_url, additional_headers=auth(key), open_timeout=DEADLINE) as ws:
        await ws.send(json.dumps({"type": "ping"}))
        async with asyncio.timeout(DEADLINE):
            while json.loads(await ws.recv())["type"] != "pong":
                pass
        await revoke(http, live, key_id)
        with pytest.raises(ConnectionClosed) as closed:
            await receive_until_closed(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401, closed.value


async def test_a_job_stream_ends_when_its_key_is_revoked(live: Live, http: httpx.AsyncClient):
    key, key_id = await new_key(http, live)
    task_id = await queued_task(http, key)
    async with http.stream("GET", f"/v1/scheduler/jobs/{task_id}/stream", headers=auth(key)) as response:
        assert response.status_code == 200
        chunks = response.aiter_bytes()
        async with asyncio.timeout(DEADLINE):
            first = await anext(chunks)  # the stream is open (retry: and the task's events)
        assert first
        await revoke(http, live, key_id)
        rest = b""
        async with asyncio.timeout(ENDS_WITHIN):
            async for chunk in chunks:
                rest += chunk
    assert rest.endswith(b": closed: the API key was revoked\n\n"), rest
    # The task is still queued: the stream ended because of the key, not because the task did.
    status = await http.get(f"/v1/tasks/{task_id}/status", headers=auth(live.admin))
    assert status.json()["status"] == "queued"


async def test_a_followed_log_ends_when_its_key_is_revoked(live: Live, http: httpx.AsyncClient):
    key, key_id = await new_key(http, live)
    task_id = await queued_task(http, key)
    async with http.stream(
        "GET", f"/v1/tasks/{task_id}/logs", params={"follow": "true"}, headers=auth(key)
    ) as response:
        assert response.status_code == 200
        await revoke(http, live, key_id)
        await read_to_end(response)
    status = await http.get(f"/v1/tasks/{task_id}/status", headers=auth(live.admin))
    assert status.json()["status"] == "queued"
    # And the key is refused for a new stream, of course.
    refused = await http.get(f"/v1/tasks/{task_id}/logs", params={"follow": "true"}, headers=auth(key))
    assert refused.status_code == 401
