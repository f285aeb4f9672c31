"""The Model Runner front end's own fetch calls, from a page of another origin, in a real Chromium (seed 002).

A tiny second HTTP server (another port: another origin) serves a page that runs the seed's calls against
runplane with the `X-API-Key` header: list the models, submit a run with the seed's inputs, poll its status
until it succeeds, fetch its results. The browser sends a CORS preflight for each (a custom header, JSON
bodies); the page sees every answer only because runplane allows that origin (RUNPLANE_CORS_ORIGINS).
A page from an origin that is not configured sees its calls fail, as a browser must make them.
Without /usr/bin/chromium these tests skip with the reason, except under RUNPLANE_REQUIRE_SERVICES=1 (CI).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.processes import stop_process_group
from tests.support.server import REPO_ROOT, RunningServer, free_port, running_server
from tests.support.waiting import poll

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
REQUIRE_SERVICES = os.environ.get("RUNPLANE_REQUIRE_SERVICES") == "1"
WORKER_NAME = "cors-worker"
RUN_TIMEOUT_MS = 120_000

# The seed's calls, as its front end makes them (fetch, JSON, polling /status every second).
SEED_PAGE = """<!doctype html>
<meta charset="utf-8">
<title>Model Runner</title>
<pre id="out">running</pre>
<script>
const API = new URLSearchParams(location.search).get("api");
const KEY = new URLSearchParams(location.search).get("key");
const headers = { "X-API-Key": KEY };
async function call(path, options = {}) {
  const response = await fetch(API + path, { ...options, headers: { ...headers, ...(options.headers || {}) } });
  const body = await response.json();
  return { status: response.status, body, trace: response.headers.get("X-Trace-Id") };
}
window.__result = (async () => {
  try {
    const models = await call("/api/models");
    const created = await call("/api/runs", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model_id: "linear_reg",
                             inputs: { region: "NA", year: 2024, parameter_set: "baseline" } }),
    });
    const runId = created.body.run_id;
    const progress = [];
    let status;
    for (;;) {
      status = await call(`/api/runs/${runId}/status`);
      progress.push(status.body.progress);
      if (status.body.status === "succeeded" || status.body.status === "failed") break;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const results = await call(`/api/runs/${runId}/results`);
    const result = { models, created, status, progress, results };
    document.getElementById("out").textContent = JSON.stringify(result);
    return result;
  } catch (error) {
    document.getElementById("out").textContent = "failed: " + error;
    return { error: String(error) };
  }
})();
</script>
"""


@dataclass
class FrontEnd:
    """A static HTTP server for the seed's page on its own port: an origin other than runplane's."""

    origin: str
    server: ThreadingHTTPServer

    def url(self, api: str, key: str) -> str:
        return f"{self.origin}/index.html?api={api}&key={key}"


@contextmanager
def front_end(directory: Path) -> Iterator[FrontEnd]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.html").write_text(SEED_PAGE, encoding="utf-8")
    handler = partial(SimpleHTTPRequestHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FrontEnd(f"http://127.0.0.1:{server.server_address[1]}", server)
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Stack:
    server: RunningServer
    user_key: str
    allowed: FrontEnd
    other: FrontEnd
    worker_log: Path


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        reason = f"{CHROMIUM} is missing: install Debian's chromium package (make install-browser)"
        if REQUIRE_SERVICES:
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("cors")
    with (
        front_end(root / "allowed") as allowed,
        front_end(root / "other") as other,
        running_server(root / "server", env={"RUNPLANE_CORS_ORIGINS": allowed.origin}) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as http,
    ):
        admin = {"X-API-Key": server.admin_key}
        keys = {}
        for role in ("worker", "user"):
            created = http.post("/v1/keys", headers=admin, json={"name": f"cors-{role}", "role": role})
            assert created.status_code == 201, created.text
            keys[role] = created.json()["key"]
        worker_log = root / "worker.log"
        command = [sys.executable, "-m", "runplane.cli", "worker", "--api", server.base_url]
        command += ["--name", WORKER_NAME, "--slots", "1", "--work-dir", str(root / "work")]
        with worker_log.open("wb") as log:
            worker = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env={**os.environ, "RUNPLANE_WORKER_KEY": keys["worker"]},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:

            def registered() -> bool:
                if worker.poll() is not None:
                    pytest.fail(f"the worker exited with {worker.returncode}\n{worker_log.read_text()}")
                listed = http.get("/v1/scheduler/workers", headers=admin).json()["workers"]
                return any(w["name"] == WORKER_NAME and w["status"] == "active" for w in listed)

            poll(registered, timeout=60, what="the worker to register")
            yield Stack(server, keys["user"], allowed, other, worker_log)
        finally:
            stop_process_group(worker)


@pytest.fixture(scope="module")
def browser(chromium_path: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def run_seed_page(browser: Browser, url: str) -> dict[str, Any]:
    context = browser.new_context()
    page: Page = context.new_page()
    try:
        page.goto(url)
        page.wait_for_function(
            "document.getElementById('out').textContent !== 'running'", timeout=RUN_TIMEOUT_MS
        )
        result: dict[str, Any] = page.evaluate("window.__result")
        return result
    finally:
        context.close()


def test_the_seeds_front_end_runs_a_model_from_another_origin(browser: Browser, stack: Stack) -> None:
    result = run_seed_page(browser, stack.allowed.url(stack.server.base_url, stack.user_key))
    assert "error" not in result, f"{result}\n{stack.server.log()[-3000:]}\n{stack.worker_log.read_text()}"
    models = result["models"]
    assert models["status"] == 200
    assert [model["id"] for model in models["body"]["models"]] == ["linear_reg", "xgb_forecast", "simulator"]
    assert models["trace"], "X-Trace-Id is exposed to the page"
    assert result["created"]["status"] == 201 and result["created"]["body"]["status"] == "queued"
    status = result["status"]["body"]
    assert (status["status"], status["progress"]) == ("succeeded", 100), json.dumps(result["status"])
    progress = result["progress"]
    assert progress == sorted(progress) and progress[-1] == 100
    results = result["results"]
    assert results["status"] == 200
    assert results["body"]["run_id"] == result["created"]["body"]["run_id"]
    assert results["body"]["rows"] and results["body"]["summary"]["model"] == "linear_reg"


def test_a_page_of_an_origin_not_configured_cannot_read_the_api(browser: Browser, stack: Stack) -> None:
    result = run_seed_page(browser, stack.other.url(stack.server.base_url, stack.user_key))
    assert "Failed to fetch" in result.get("error", ""), result
