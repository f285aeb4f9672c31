"""A Jupyter service end to end: a real server (`runplane serve`), a real worker (`runplane worker`) and a
real `jupyter_server` it starts, opened over HTTP with its token, running a cell in a kernel (ipykernel)
started through Jupyter's REST API, and gone after stop (kernel included).

On SQLite only: the server side (start, visibility, listing, stop) is covered on both databases by
tests/integration/test_jupyter_api.py; what this adds is the worker's side, which does not depend on the
database.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import select
from websockets.sync.client import connect as ws_connect

from runplane.store.database import Database, migrate
from runplane.store.tables import EventRow
from tests.support.live import Live, live_server
from tests.support.openapi import validate_read
from tests.support.waiting import poll
from tests.support.worker_process import running_worker

pytestmark = pytest.mark.integration

# A Python start (the server, then jupyter_server with its extensions) can take many seconds here.
START_SECONDS = 120


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'runplane.sqlite3'}"
    migrate(url)
    with live_server(tmp_path / "jupyter", url) as server:
        yield server


def _key(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def _processes_with(marker: str) -> list[psutil.Process]:
    """Live processes whose command line or environment holds `marker` (the service's task id)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "environ", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            text = " ".join(proc.info["cmdline"] or []) + " " + str(proc.info["environ"] or {})
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if marker in text:
            found.append(proc)
    return found


def _start_kernel(url: str, token: str) -> str:
    """Starts a kernel on the Jupyter server (`POST /api/kernels`); returns its id."""
    with httpx.Client(trust_env=False, timeout=60) as jupyter:
        started = jupyter.post(f"{url}api/kernels", headers={"Authorization": f"token {token}"}, json={})
    assert started.status_code == 201, started.text
    return str(started.json()["id"])


def _execute(url: str, token: str, kernel_id: str, code: str) -> str:
    """Runs `code` in the kernel over its WebSocket (Jupyter messaging protocol 5.x); returns its stdout.

    Waits for the kernel to answer the execute request (the first one also waits for it to start)."""
    ws_url = url.replace("http://", "ws://", 1) + f"api/kernels/{kernel_id}/channels"
    msg_id = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "test",
            "session": uuid.uuid4().hex,
            "date": datetime.now(UTC).isoformat(),
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": {"code": code, "silent": False, "store_history": False, "allow_stdin": False},
        "channel": "shell",
        "buffers": [],
    }
    output: list[str] = []
    replied = idle = False
    deadline = time.monotonic() + START_SECONDS
    with ws_connect(ws_url, additional_headers={"Authorization": f"token {token}"}, open_timeout=30) as ws:
        ws.send(json.dumps(request))
        while not (replied and idle):
            message = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream" and content["name"] == "stdout":
                output.append(content["text"])
            elif kind == "error":
                raise AssertionError(f"the cell failed: {content['ename']}: {content['evalue']}")
            elif kind == "execute_reply":
                assert content["status"] == "ok", content
                replied = True
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
    return "".join(output)


def _events_text(database_url: str, task_id: str) -> str:
    async def read() -> str:
        db = Database(database_url)
        try:
            async with db.reader() as session:
                rows = await session.scalars(select(EventRow).where(EventRow.task_id == task_id))
                return " ".join(f"{row.topic} {row.data}" for row in rows)
        finally:
            await db.close()

    return asyncio.run(read())


def test_a_started_service_answers_with_its_token_only_and_is_gone_after_stop(
    live: Live, tmp_path: Path
) -> None:
    with httpx.Client(base_url=live.base_url, timeout=30, event_hooks={"response": [validate_read]}) as http:

        def registered(name: str) -> bool:
            answer = http.get("/v1/scheduler/workers", headers=_key(live.admin), params={"limit": 100})
            return any(w["name"] == name and w["status"] == "active" for w in answer.json()["workers"])

        with running_worker(live.base_url, live.worker, tmp_path, name="nb-worker", registered=registered):
            started = http.post(
                "/v1/jupyter/services", headers=_key(live.alice), json={"name": "notebook", "memory_gb": 2}
            )
            assert started.status_code == 201, started.text
            service = started.json()
            service_id, token = service["id"], service["token"]
            assert service["status"] == "starting" and "url" not in service
            assert token and len(token) >= 32

            def running() -> dict[str, Any] | None:
                found: dict[str, Any] = http.get(
                    f"/v1/jupyter/services/{service_id}", headers=_key(live.alice)
                ).json()
                assert found["status"] in ("starting", "running"), found["message"]
                return found if found["status"] == "running" else None

            service = poll(running, timeout=START_SECONDS, what="the Jupyter service to run", interval=0.5)
            assert service["token"] == token
            url = service["url"]
            assert url.startswith("http://127.0.0.1:")

            # The real Jupyter server: its token opens it, nothing else does. A fresh client per request:
            # a token in the URL makes Jupyter set a login cookie, which would open later requests.
            def status_code(**options: Any) -> int:
                with httpx.Client(trust_env=False, timeout=10) as jupyter:
                    return jupyter.get(f"{url}api/status", **options).status_code

            assert status_code() == 403
            assert status_code(params={"token": "not-" + token}) == 403
            assert status_code(headers={"Authorization": f"token {token}"}) == 200
            assert status_code(params={"token": token}) == 200

            # Only its owner and admins see it; only they get the token; lists never carry it.
            assert http.get(f"/v1/jupyter/services/{service_id}", headers=_key(live.bob)).status_code == 404
            bob_list = http.get("/v1/jupyter/services", headers=_key(live.bob)).json()
            assert bob_list["total"] == 0 and token not in str(bob_list)
            admin_view = http.get(f"/v1/jupyter/services/{service_id}", headers=_key(live.admin)).json()
            assert admin_view["token"] == token and admin_view["user_id"] == "alice"
            listed = http.get("/v1/jupyter/services", headers=_key(live.alice)).json()
            assert [s["id"] for s in listed["services"]] == [service_id]
            assert "token" not in listed["services"][0]
            admin_list = http.get("/v1/jupyter/services", headers=_key(live.admin)).text
            assert service_id in admin_list and token not in admin_list

            # It runs notebooks: a kernel started through Jupyter's REST API computes a cell.
            kernel_id = _start_kernel(url, token)
            assert _execute(url, token, kernel_id, "print(sum(i * i for i in range(10)))") == "285\n"

            # Its processes run (found by the task id runplane puts in its environment), the kernel's too.
            processes = _processes_with(service_id)
            assert processes, "no process of the service found"
            assert any("ipykernel" in " ".join(p.cmdline()) for p in processes), "no kernel process found"

            stop = http.delete(f"/v1/jupyter/services/{service_id}", headers=_key(live.alice))
            assert stop.status_code == 202, stop.text
            assert stop.json()["status"] == "stopping"

            def stopped() -> dict[str, Any] | None:
                found: dict[str, Any] = http.get(
                    f"/v1/jupyter/services/{service_id}", headers=_key(live.alice)
                ).json()
                return found if found["status"] == "stopped" else None

            final = poll(stopped, timeout=60, what="the Jupyter service to stop", interval=0.5)
            assert "url" not in final and final["stopped_at"] is not None
            assert _processes_with(service_id) == []
            with httpx.Client(trust_env=False, timeout=5) as jupyter, pytest.raises(httpx.TransportError):
                jupyter.get(f"{url}api/status", params={"token": token})
            assert (
                http.delete(f"/v1/jupyter/services/{service_id}", headers=_key(live.alice)).status_code == 409
            )

        # The token is in no log, task answer or event.
        logs = http.get(f"/v1/tasks/{service_id}/logs", headers=_key(live.alice), params={"tail": 100000})
        assert logs.status_code == 200, logs.text
        assert "ServerApp" in logs.text or "Jupyter" in logs.text, logs.text[:2000]
        assert token not in logs.text
        task = http.get(f"/v1/tasks/{service_id}", headers=_key(live.alice))
        assert task.status_code == 200 and token not in task.text
        assert task.json()["secret_names"] == ["JUPYTER_TOKEN"]
        assert token not in _events_text(live.database_url, service_id)
        assert token not in (tmp_path / "nb-worker.log").read_text(errors="replace")
        assert token not in live.server.log()
