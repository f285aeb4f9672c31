"""A task's plugin status kept live, and plugin health reads cached, on both databases (issue 9).

A real HTTP endpoint started by the test stands for a remote TensorBoard: it counts the requests it gets
and answers what the test tells it to. The server runs in-process with its sidecar supervisor, which
re-checks running tasks' plugins every `plugin_status_seconds` and winds them up when the tasks end.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import auth
from tests.support.workers import claim, register, report

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

HEALTH_TTL = 10.0


class Endpoint:
    """A local HTTP server answering every GET with `code`; `count` is how many GETs it got."""

    def __init__(self) -> None:
        self.code = 200
        self.count = 0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with outer._lock:
                    outer.count += 1
                body = b"<html>tensorboard</html>"
                self.send_response(outer.code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Endpoint:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with Endpoint() as found:
        yield found


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, object]:
    (tmp_path / "nobin").mkdir(exist_ok=True)
    return {
        "reaper_seconds": 0,
        "plugin_poll_seconds": 0.2,
        "plugin_status_seconds": 0.2,
        "plugin_health_ttl_seconds": HEALTH_TTL,
        "plugins_bin_dir": tmp_path / "nobin",
    }


async def _remote_tensorboard(client: httpx.AsyncClient, admin_key: str, url: str) -> httpx.Response:
    return await client.put(
        "/v1/plugins/tensorboard/config",
        headers=auth(admin_key),
        json={"mode": "remote", "settings": {"url": url}},
    )


async def _wait(check: Any, what: str) -> Any:
    """`check()`'s first truthy answer, asked every 0.1 s for up to a minute."""
    for _ in range(600):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_burst_of_plugin_reads_makes_one_health_call_and_a_change_forgets_it(
    client, admin_key, user_key, endpoint
):
    assert (await _remote_tensorboard(client, admin_key, endpoint.url)).status_code == 200
    assert endpoint.count == 1  # the PUT's answer checked it
    paths = ["/v1/plugins", "/v1/plugins/tensorboard", "/v1/plugins/tensorboard/health"]
    # At once, then one after another: all within the TTL of that one check.
    answers = await asyncio.gather(*(client.get(paths[i % 3], headers=auth(user_key)) for i in range(20)))
    answers += [await client.get(path, headers=auth(user_key)) for path in paths * 3]
    assert all(answer.status_code == 200 for answer in answers)
    checked = {a.json()["status"]["last_check"] for a in answers if a.request.url.path == paths[1]}
    assert len(checked) == 1  # the time of the one real check
    assert endpoint.count == 1
    # A configuration change forgets the cached check: the PUT's answer checks again, then reads reuse it.
    assert (await _remote_tensorboard(client, admin_key, endpoint.url)).status_code == 200
    for path in paths * 3:
        assert (await client.get(path, headers=auth(user_key))).status_code == 200
    assert endpoint.count == 2
    # Once the TTL is over the next read checks again.
    endpoint_before = endpoint.count
    await asyncio.sleep(HEALTH_TTL + 0.2)
    assert (await client.get(paths[2], headers=auth(user_key))).status_code == 200
    assert endpoint.count == endpoint_before + 1
    # DELETE: disabled, nothing to call.
    assert (await client.delete("/v1/plugins/tensorboard/config", headers=auth(admin_key))).status_code == 204
    health = (await client.get(paths[2], headers=auth(user_key))).json()
    assert health["status"] == "stopped" and endpoint.count == endpoint_before + 1


async def test_a_running_tasks_plugin_status_is_rechecked_and_reads_stopped_when_it_ends(
    client, admin_key, user_key, worker_key, endpoint
):
    assert (await _remote_tensorboard(client, admin_key, endpoint.url)).status_code == 200
    submitted = await client.post(
        "/v1/tasks", headers=auth(user_key), json={"job_name": "watched", "entrypoint": "true"}
    )
    task_id = submitted.json()["id"]
    worker_id = await register(client, worker_key)
    assignment = await claim(client, worker_key, worker_id)
    assert assignment is not None and assignment["task_id"] == task_id
    assert (await report(client, worker_key, worker_id, task_id, status="running")).status_code == 200

    async def status() -> dict[str, Any]:
        task = (await client.get(f"/v1/tasks/{task_id}", headers=auth(user_key))).json()
        found: dict[str, Any] = task["plugin_status"]["tensorboard"]
        return found

    first = await status()
    assert first["status"] == "healthy" and first["url"].startswith(endpoint.url)
    claimed_check = datetime.fromisoformat(first["last_check"])

    async def rechecked() -> dict[str, Any] | None:
        found = await status()
        return found if datetime.fromisoformat(found["last_check"]) > claimed_check else None

    later = await _wait(rechecked, "the task's plugin status to be checked again")
    assert later["status"] == "healthy" and later["url"] == first["url"]

    # The endpoint goes bad: the task's status says so (once the cached check is older than the TTL).
    endpoint.code = 503

    async def unhealthy() -> dict[str, Any] | None:
        found = await status()
        return found if found["status"] == "unhealthy" else None

    bad = await _wait(unhealthy, "the task's plugin to read unhealthy")
    assert "503" in bad["message"] and bad["url"] == first["url"]
    endpoint.code = 200

    # The task ends: its plugin reads stopped, checked at or after the end.
    assert (await report(client, worker_key, worker_id, task_id, status="collecting")).status_code == 200
    assert (await report(client, worker_key, worker_id, task_id, status="completed")).status_code == 200

    async def stopped() -> tuple[dict[str, Any], dict[str, Any]] | None:
        task = (await client.get(f"/v1/tasks/{task_id}", headers=auth(user_key))).json()
        found = task["plugin_status"]["tensorboard"]
        return (task, found) if found["status"] == "stopped" else None

    task, final = await _wait(stopped, "the ended task's plugin to read stopped")
    assert datetime.fromisoformat(final["last_check"]) >= datetime.fromisoformat(task["ended_at"])
    assert final["url"] == first["url"] and "completed" in final["message"]
    # Wound up once: no more checks change it.
    calls = endpoint.count
    await asyncio.sleep(1.0)
    again = (await client.get(f"/v1/tasks/{task_id}", headers=auth(user_key))).json()
    assert again["plugin_status"]["tensorboard"] == final and endpoint.count == calls
