"""The /dashboard in a real browser: Playwright drives Debian's Chromium against a real server and worker.

A server (`runplane serve`, two processes) and a worker agent (`runplane worker`) run as processes, as users
run them. The dashboard is used the way a person would: enter a key, watch a task's progress bar rise, submit
a `simulator` run through the form, read its results table, download an artifact (its bytes must match the
sha256 the API lists), and see a task labelled with markup shown as plain text with no script running.
Live updates come over /ws; a dashboard whose /ws is unavailable falls back to polling, and one whose socket
drops reconnects and re-reads the state.

Screenshots go to test-artifacts/screenshots/ (and one mid-run to docs/screenshots/ for the docs).
Without /usr/bin/chromium these tests skip with the reason, except under RUNPLANE_REQUIRE_SERVICES=1 (CI).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    FloatRect,
    Page,
    ViewportSize,
    WebSocketRoute,
    expect,
    sync_playwright,
)

from tests.support.processes import stop_process_group
from tests.support.server import REPO_ROOT, RunningServer, running_server
from tests.support.waiting import poll

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRE_SERVICES = os.environ.get("RUNPLANE_REQUIRE_SERVICES") == "1"
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
DOCS_SCREENSHOT = REPO_ROOT / "docs" / "screenshots" / "dashboard-mid-run.png"
WORKER_NAME = "browser-worker"
MARKUP = "<img src=x onerror=alert(1)>"
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}
# Generous waits for conditions (never fixed sleeps): a CI machine may be slow.
UI_TIMEOUT_MS = 20_000
RUN_TIMEOUT_MS = 90_000

# A task that reports progress slowly (12 steps, ~0.8 s apart), so a bar is seen between 0 and 100.
PACED_ENTRYPOINT = (
    'python -c "import time\n'
    "from runplane.task import progress\n"
    "for step in range(1, 13):\n"
    "    progress(step * 8, f'epoch {step}/12')\n"
    "    print(f'epoch {step} loss={1 / step:.4f}', flush=True)\n"
    '    time.sleep(0.8)"'
)

# Records every value and status each task row's progress bar takes, as the page changes it.
RECORD_PROGRESS = """() => {
  window.__progress = [];
  const body = document.getElementById("tasks-body");
  const record = () => {
    for (const row of body.querySelectorAll("tr[data-task-id]")) {
      const bar = row.querySelector("progress");
      if (!bar) continue;
      const entry = { id: row.dataset.taskId, value: bar.value, status: row.dataset.status };
      const last = window.__progress.findLast((e) => e.id === entry.id);
      if (!last || last.value !== entry.value || last.status !== entry.status) window.__progress.push(entry);
    }
  };
  new MutationObserver(record).observe(body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["value", "data-status"],
  });
  record();
}"""


# ------------------------------------------------------------------------------------------------ fixtures


@dataclass
class Stack:
    server: RunningServer
    http: httpx.Client
    user_key: str
    worker_log: Path

    def user(self) -> dict[str, str]:
        return {"X-API-Key": self.user_key}

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post("/v1/tasks", headers=self.user(), json=body)
        assert response.status_code == 201, response.text
        task: dict[str, Any] = response.json()
        return task

    def task(self, task_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/tasks/{task_id}", headers=self.user())
        assert response.status_code == 200, response.text
        task: dict[str, Any] = response.json()
        return task

    def diagnostics(self) -> str:
        return (
            f"--- server log\n{self.server.log()[-4000:]}\n"
            f"--- worker log\n{self.worker_log.read_text(errors='replace')[-4000:]}"
        )


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
    root = tmp_path_factory.mktemp("dashboard")
    with (
        running_server(root / "server", workers=2) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as http,
    ):
        admin = {"X-API-Key": server.admin_key}
        keys = {}
        for role in ("worker", "user"):
            created = http.post("/v1/keys", headers=admin, json={"name": f"browser-{role}", "role": role})
            assert created.status_code == 201, created.text
            keys[role] = created.json()["key"]
        worker_log = root / "worker.log"
        command = [sys.executable, "-m", "runplane.cli", "worker", "--api", server.base_url]
        command += ["--name", WORKER_NAME, "--slots", "2", "--work-dir", str(root / "work")]
        with worker_log.open("wb") as log:
            worker = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env={**os.environ, "RUNPLANE_WORKER_KEY": keys["worker"]},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack = Stack(server, http, keys["user"], worker_log)
        try:

            def registered() -> bool:
                if worker.poll() is not None:
                    pytest.fail(f"the worker exited with {worker.returncode}\n{stack.diagnostics()}")
                listed = http.get("/v1/scheduler/workers", headers=admin).json()["workers"]
                return any(w["name"] == WORKER_NAME and w["status"] == "active" for w in listed)

            poll(registered, timeout=60, what="the worker to register")
            yield stack
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


@dataclass
class Watch:
    """What the page did that it must not: dialogs, uncaught errors, Content-Security-Policy violations."""

    dialogs: list[str]
    errors: list[str]
    csp: list[str]

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.errors == [], f"uncaught errors in the page: {self.errors}"
        assert self.csp == [], f"Content-Security-Policy violations: {self.csp}"


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, Watch]]:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    opened = context.new_page()
    watch = Watch([], [], [])

    def on_dialog(dialog: Dialog) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            watch.csp.append(message.text)

    opened.on("dialog", on_dialog)
    opened.on("console", on_console)
    opened.on("pageerror", lambda error: watch.errors.append(str(error)))
    try:
        yield opened, watch
    finally:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.server.base_url}/dashboard")
    expect(page.get_by_role("heading", name="Connect to runplane")).to_be_visible()
    page.get_by_label("API key").fill(stack.user_key)
    page.get_by_role("button", name="Connect").click()
    expect(page.locator("#app")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.locator("#workers-list")).to_contain_text(WORKER_NAME, timeout=UI_TIMEOUT_MS)


# Wraps fetch before the page's scripts run, recording each request (URL, method, how many requests of the
# open sweep's panel were in flight when it started, and for GET /v1/sweeps/{id} the counts it answered).
RECORD_FETCHES = """(() => {
  window.__fetches = [];
  let inflight = 0;
  const original = window.fetch;
  window.fetch = async function (input, init) {
    const url = new URL(String(input instanceof Request ? input.url : input), location.href);
    const method = (init && init.method) || "GET";
    const panel = method === "GET" && /^\\/v1\\/sweeps\\/[^/]+(\\/results)?$/.test(url.pathname);
    const entry = { path: url.pathname, method, panel, results: url.pathname.endsWith("/results") };
    if (panel) entry.concurrent = ++inflight;
    window.__fetches.push(entry);
    try {
      const response = await original.apply(this, arguments);
      if (panel && !entry.results && response.ok) {
        try { entry.counts = JSON.stringify((await response.clone().json()).counts); } catch (err) {}
      }
      return response;
    } finally {
      if (panel) inflight -= 1;
    }
  };
})();"""


def record_fetches(page: Page) -> None:
    page.add_init_script(RECORD_FETCHES)


def fetches(page: Page, sweep_id: str) -> list[dict[str, Any]]:
    """The requests the page made for one sweep's panel (GET /v1/sweeps/{id} and its /results)."""
    seen: list[dict[str, Any]] = page.evaluate(
        "(id) => window.__fetches.filter((f) => f.panel && f.path.startsWith(`/v1/sweeps/${id}`))", sweep_id
    )
    return seen


def same_origin_only(page: Page, stack: Stack) -> list[str]:
    """Collects every URL the page asks for that is not on the server (data: and blob: are the page's own)."""
    outside: list[str] = []

    def on_request(request: Any) -> None:
        url = request.url
        if not url.startswith((stack.server.base_url, "data:", "blob:")):
            ws_origin = stack.server.base_url.replace("http://", "ws://", 1)
            if not url.startswith(ws_origin):
                outside.append(url)

    page.on("request", on_request)
    page.on("websocket", lambda ws: on_request(ws))
    return outside


def row(page: Page, task_id: str) -> Any:
    return page.locator(f'#tasks-body tr[data-task-id="{task_id}"]')


def progress_seen(page: Page, task_id: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = page.evaluate(
        "(id) => window.__progress.filter((e) => e.id === id)", task_id
    )
    return seen


# ------------------------------------------------------------------------------------------------ tests


def test_landing_page_and_dashboard_shell_need_no_key(stack: Stack) -> None:
    """`/` links the dashboard and the docs; `/dashboard` is a static shell with a strict CSP."""
    for path in ("/", "/dashboard"):
        response = stack.http.get(path)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/html")
        csp = response.headers["content-security-policy"]
        for directive in ("default-src 'self'", "connect-src 'self' ws: wss:", "img-src 'self' data: blob:"):
            assert directive in csp
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
        assert "<script>" not in response.text and "style=" not in response.text
    landing = stack.http.get("/").text
    for link in ('href="/dashboard"', 'href="/docs"', 'href="/redoc"'):
        assert link in landing
    # The page builds its DOM from text only; these would be ways for data to become markup.
    sinks = r"\.(innerHTML|outerHTML)\s*[+]?=|insertAdjacentHTML\(|document\.write\(|\beval\(|new Function\("
    for name in ("app.js", "sweeps.js"):
        script = stack.http.get(f"/static/dashboard/{name}")
        assert script.status_code == 200
        assert re.search(sinks, script.text) is None, name


def test_sign_in_refuses_a_bad_key_and_keeps_a_good_one_in_session_storage(
    page: tuple[Page, Watch], stack: Stack
) -> None:
    tab, watch = page
    tab.goto(f"{stack.server.base_url}/dashboard")
    tab.get_by_label("API key").fill("rp_not-a-real-key")
    tab.get_by_role("button", name="Connect").click()
    expect(tab.locator("#login-error")).to_contain_text("The key was refused", timeout=UI_TIMEOUT_MS)
    expect(tab.locator("#app")).to_be_hidden()
    assert tab.evaluate("() => sessionStorage.length") == 0

    sign_in(tab, stack)
    assert tab.evaluate("() => sessionStorage.getItem('runplane.apiKey')") == stack.user_key
    assert tab.evaluate("() => localStorage.length") == 0
    tab.reload()  # the tab remembers the key for this session
    expect(tab.locator("#app")).to_be_visible(timeout=UI_TIMEOUT_MS)
    tab.get_by_role("button", name="Forget key").click()
    expect(tab.get_by_label("API key")).to_be_visible()
    assert tab.evaluate("() => sessionStorage.length") == 0
    watch.assert_clean()


def test_dashboard_end_to_end(page: tuple[Page, Watch], stack: Stack) -> None:
    tab, watch = page
    tab.goto(f"{stack.server.base_url}/dashboard")
    expect(tab.get_by_label("API key")).to_be_visible()
    screenshot(tab, "01-sign-in")
    sign_in(tab, stack)
    tab.evaluate(RECORD_PROGRESS)

    # 1. A simulator run submitted through the form, with a choice from its parameter grid.
    # "Parameter set" offers the presets the chosen model declares (its `parameter_set` input), baseline
    # first; a preset another model lacks falls back to baseline when the model changes.
    def declared_presets(model_id: str) -> list[str]:
        model = stack.http.get(f"/v1/models/{model_id}", headers=stack.user()).json()
        return next(i["values"] for i in model["inputs"] if i["name"] == "parameter_set")

    presets = tab.get_by_label("Parameter set")
    tab.get_by_label("Model", exact=True).select_option("linear_reg")
    assert presets.locator("option").all_text_contents() == declared_presets("linear_reg")
    assert declared_presets("linear_reg") == ["baseline", "light_penalty", "heavy_penalty"]
    expect(presets).to_have_value("baseline")
    presets.select_option("heavy_penalty")
    tab.get_by_label("Model", exact=True).select_option("simulator")
    assert presets.locator("option").all_text_contents() == declared_presets("simulator")
    expect(presets).to_have_value("baseline")
    presets.select_option("thorough")
    trials = tab.get_by_label("trials")
    assert trials.locator("option").all_text_contents() == ["model default", "100", "1000", "10000"]
    trials.select_option("10000")
    tab.get_by_label("Region").fill("EU")
    tab.get_by_label("Year").fill("2025")
    tab.get_by_label("Seed").fill("7")
    tab.get_by_label("Job name").fill("dashboard-sim")
    tab.get_by_label("Run label").fill("from the dashboard")
    tab.get_by_role("button", name="Submit run").click()
    expect(tab.locator("#submit-result")).to_contain_text("Queued dashboard-sim", timeout=UI_TIMEOUT_MS)
    tab.wait_for_function("() => location.hash.startsWith('#task=')")
    sim_id = tab.evaluate("() => location.hash.slice('#task='.length)")
    submitted = stack.task(sim_id)
    assert submitted["model_id"] == "simulator"
    assert submitted["inputs"] == {"trials": 10000, "region": "EU", "year": 2025, "parameter_set": "thorough"}
    assert submitted["random_seed"] == 7 and submitted["run_label"] == "from the dashboard"

    expect(row(tab, sim_id)).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)
    expect(tab.locator("#task-status")).to_have_text("completed", timeout=UI_TIMEOUT_MS)
    seen = progress_seen(tab, sim_id)
    assert seen[-1] == {"id": sim_id, "value": 100, "status": "completed"}, seen
    # The bar moved: it was seen below 100 while the run was under way, then at 100. (The simulator's
    # 10000 trials take well under a second, less than the worker's 1 s progress interval, so the API
    # itself has no value between 0 and 100 for it; the paced task below shows the bar rising.)
    assert any(e["value"] < 100 and e["status"] in ("preparing", "running", "collecting") for e in seen), (
        f"the bar was never seen below 100 while the run was under way: {seen}"
    )
    assert [e["value"] for e in seen] == sorted(e["value"] for e in seen), seen

    # 2. Its results fill the results table, the same rows the API serves.
    results = stack.http.get(f"/v1/tasks/{sim_id}/results", headers=stack.user()).json()
    table_rows = tab.locator("#results-table tbody tr")
    expect(table_rows).to_have_count(min(len(results["rows"]), 100), timeout=UI_TIMEOUT_MS)
    header = tab.locator("#results-table thead th").all_text_contents()
    assert header == list(results["rows"][0]), header
    assert table_rows.first.locator("td").first.text_content() == str(results["rows"][0]["period"])
    expect(tab.locator("#results-summary")).to_contain_text("trials")
    expect(tab.locator("#results-summary")).to_contain_text("10,000")
    screenshot(tab, "02-results")

    # 3. An artifact downloads with the API key and has the bytes the API lists.
    listed = stack.http.get(f"/v1/tasks/{sim_id}/artifacts", headers=stack.user()).json()["artifacts"]
    histogram = next(a for a in listed if a["path"] == "histogram.csv")
    item = tab.locator('#artifact-list li[data-path="histogram.csv"]')
    with tab.expect_download() as download_info:
        item.get_by_role("button", name="Download histogram.csv").click()
    download = download_info.value
    assert download.suggested_filename == "histogram.csv"
    data = Path(download.path()).read_bytes()
    assert len(data) == histogram["size"]
    assert hashlib.sha256(data).hexdigest() == histogram["sha256"]

    # 4. A task with a slowly rising progress bar, submitted through the API, watched in the dashboard.
    paced = stack.submit(
        {"job_name": "paced-eval", "entrypoint": PACED_ENTRYPOINT, "run_label": "nightly eval"}
    )
    expect(row(tab, paced["id"])).to_be_visible(timeout=UI_TIMEOUT_MS)
    row(tab, paced["id"]).get_by_role("button", name="Open task paced-eval").click()
    expect(tab.locator("#task-title")).to_have_text("paced-eval")
    tab.wait_for_function(
        """() => {
            const value = document.getElementById("task-progress").value;
            return document.getElementById("task-status").textContent === "running" && value > 15 && value < 85;
        }""",
        timeout=RUN_TIMEOUT_MS,
    )
    expect(tab.locator("#task-log")).to_contain_text("epoch 1", timeout=UI_TIMEOUT_MS)
    midrun = screenshot(tab, "03-mid-run")
    if os.environ.get("RUNPLANE_UPDATE_SCREENSHOTS") == "1":
        # The README's picture is refreshed on request only: a test run leaves tracked files alone.
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        DOCS_SCREENSHOT.write_bytes(midrun.read_bytes())
    expect(row(tab, paced["id"])).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)
    values = [entry["value"] for entry in progress_seen(tab, paced["id"])]
    assert values[-1] == 100, values
    assert values == sorted(values), f"progress went down: {values}"
    rising = [(a, b) for a, b in itertools.pairwise(values) if a < b < 100]
    assert rising, f"the progress bar never rose before reaching 100: {values}"

    # 5. Markup in a task's fields is shown as text, and nothing runs.
    marked = stack.submit(
        {
            "job_name": "markup-label",
            "model_id": "simulator",
            "inputs": {"trials": 100},
            "run_label": MARKUP,
            "metadata": {"note": MARKUP},
        }
    )
    label = row(tab, marked["id"]).locator(".task-label")
    expect(label).to_have_text(MARKUP, timeout=UI_TIMEOUT_MS)
    row(tab, marked["id"]).get_by_role("button", name="Open task markup-label").click()
    expect(tab.locator("#task-facts")).to_contain_text(f"note={MARKUP}", timeout=UI_TIMEOUT_MS)
    expect(tab.locator("#task-facts")).to_contain_text(MARKUP)
    expect(row(tab, marked["id"])).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)
    assert tab.locator("img").count() == 0, "markup from task data became an element"
    screenshot(tab, "04-markup-as-text")
    watch.assert_clean()


def test_dashboard_polls_when_websocket_is_unavailable(page: tuple[Page, Watch], stack: Stack) -> None:
    """With /ws refused, the dashboard says it is polling and still follows a task to its end."""
    tab, watch = page
    tab.route_web_socket(re.compile(r".*/ws$"), lambda ws: ws.close(code=1011, reason="unavailable"))
    sign_in(tab, stack)
    expect(tab.locator("#connection")).to_contain_text("Polling", timeout=UI_TIMEOUT_MS)
    task = stack.submit({"job_name": "polled-run", "model_id": "simulator", "inputs": {"trials": 100}})
    expect(row(tab, task["id"])).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)
    expect(row(tab, task["id"]).locator(".progress-label")).to_have_text("100%")
    screenshot(tab, "05-polling-fallback")
    watch.assert_clean()


def test_dashboard_is_live_over_websocket_and_resumes_after_a_drop(
    page: tuple[Page, Watch], stack: Stack
) -> None:
    """Events arrive over /ws; when the socket drops the dashboard reconnects and re-reads the state."""
    tab, watch = page
    sockets: list[WebSocketRoute] = []
    received: list[dict[str, Any]] = []
    refuse = {"now": False}

    def route(ws: WebSocketRoute) -> None:
        if refuse["now"]:
            ws.close(code=1012, reason="restarting")
            return
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            if isinstance(message, str):
                received.append(json.loads(message))
            ws.send(message)

        server.on_message(from_server)
        sockets.append(ws)

    tab.route_web_socket(re.compile(r".*/ws$"), route)
    sign_in(tab, stack)
    expect(tab.locator("#connection")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
    assert any(m.get("type") == "subscribed" for m in received), received

    task = stack.submit({"job_name": "live-run", "model_id": "simulator", "inputs": {"trials": 100}})
    expect(row(tab, task["id"])).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)
    events = [
        m for m in received if isinstance(m.get("data"), dict) and m["data"].get("task_id") == task["id"]
    ]
    assert {m["type"] for m in events} & {"task_update", "task_complete"}, received

    # The socket drops and reconnecting is refused for a while; a task finishes meanwhile.
    refuse["now"] = True
    sockets[-1].close(code=1012, reason="restarting")
    expect(tab.locator("#connection")).not_to_have_text("Live", timeout=UI_TIMEOUT_MS)
    missed = stack.submit({"job_name": "missed-run", "model_id": "simulator", "inputs": {"trials": 100}})
    poll(lambda: stack.task(missed["id"])["status"] == "completed", timeout=90, what="missed-run to end")
    refuse["now"] = False
    expect(tab.locator("#connection")).to_have_text("Live", timeout=45_000)
    assert len(sockets) >= 2
    expect(row(tab, missed["id"])).to_have_attribute("data-status", "completed", timeout=UI_TIMEOUT_MS)
    watch.assert_clean()


def test_sweep_grid_starts_a_sweep_and_charts_its_metric(page: tuple[Page, Watch], stack: Stack) -> None:
    """On a catalog model, "Sweep grid" starts one run per grid value (POST /v1/sweeps); the sweep card
    follows its progress to the end and charts the chosen metric against the swept parameter as SVG."""
    tab, watch = page
    sign_in(tab, stack)
    tab.get_by_label("Model", exact=True).select_option("linear_reg")
    tab.get_by_label("Sweep repeats").fill("2")
    tab.get_by_role("button", name="Sweep grid").click()
    card = tab.locator("#sweep-view")
    expect(card).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(tab.locator("#submit-result")).to_contain_text("6 tasks", timeout=UI_TIMEOUT_MS)

    listed = stack.http.get("/v1/sweeps", headers=stack.user()).json()
    sweep = listed["sweeps"][0]
    assert (sweep["model_id"], sweep["parameters"], sweep["task_count"]) == ("linear_reg", ["alpha"], 6)
    expect(card).to_have_attribute("data-finished", "1", timeout=RUN_TIMEOUT_MS * 2)
    expect(tab.locator("#sweep-progress-label")).to_have_text("100%")
    expect(tab.locator("#sweep-counts")).to_contain_text("6 completed")

    chart = tab.locator("#sweep-chart svg.chart")
    expect(chart).to_have_attribute("aria-label", "rmse against alpha")
    expect(chart.locator("circle.chart-point")).to_have_count(6)
    expect(chart.locator("path.chart-line")).to_have_count(1)
    for tick in ("0.1", "1", "10"):
        expect(chart.locator("text.chart-tick", has_text=re.compile(rf"^{re.escape(tick)}$"))).to_have_count(
            1
        )
    best = stack.http.get(
        f"/v1/sweeps/{sweep['id']}", headers=stack.user(), params={"metric": "rmse", "goal": "min"}
    ).json()["best"]
    expect(tab.locator("#sweep-best")).to_contain_text("Best (min rmse): ")
    expect(tab.locator("#sweep-best")).to_contain_text(f"alpha={best['variation']['alpha']:g}")

    # Another metric redraws the chart; "highest" asks for the other end.
    tab.get_by_label("Metric", exact=True).select_option("r2")
    expect(chart).to_have_attribute("aria-label", "r2 against alpha", timeout=UI_TIMEOUT_MS)
    tab.get_by_label("Best is").select_option("max")
    expect(tab.locator("#sweep-best")).to_contain_text("Best (max r2)", timeout=UI_TIMEOUT_MS)
    screenshot(tab, "sweep-chart")
    watch.assert_clean()


SWEEP_BODY = {
    "name": "api-ridge",
    "task": {"job_name": "api-ridge", "model_id": "linear_reg", "inputs": {"region": "NA"}},
    "grid": {"alpha": [0.1, 1.0, 10.0]},
    "repeats": 2,
    "random_seed": 5,
}
DOCS_SWEEP_SCREENSHOT = REPO_ROOT / "docs" / "screenshots" / "dashboard-sweep.png"
POLL_MS = 2000  # sweeps.js's POLL_MS


def start_sweep(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    response = stack.http.post("/v1/sweeps", headers=stack.user(), json=body)
    assert response.status_code == 201, response.text
    sweep: dict[str, Any] = response.json()
    return sweep


def sweep_row(page: Page, sweep_id: str) -> Any:
    return page.locator(f'#sweeps-body tr[data-sweep-id="{sweep_id}"]')


def test_a_sweep_started_through_the_api_is_listed_linked_and_kept_across_a_reload(
    page: tuple[Page, Watch], stack: Stack
) -> None:
    """A sweep the API started shows in the sweeps list (name, progress, counts); opening it shows its panel
    (progress, results table, chart) at a URL a reload keeps; its tasks name their sweep, trial and
    variation and link back to it. The panel reads the results table only when the counts changed, one
    request at a time, and stops polling once the sweep has ended. Nothing is loaded from another origin."""
    tab, watch = page
    record_fetches(tab)
    outside = same_origin_only(tab, stack)
    sweep = start_sweep(stack, SWEEP_BODY)
    sign_in(tab, stack)

    listed = sweep_row(tab, sweep["id"])
    expect(listed).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(listed).to_contain_text("api-ridge")
    expect(listed).to_contain_text("6 tasks")
    listed.get_by_role("link", name="api-ridge").click()
    card = tab.locator("#sweep-view")
    expect(card).to_be_visible()
    expect(tab.locator("#sweep-title")).to_have_text("Sweep api-ridge", timeout=UI_TIMEOUT_MS)
    assert f"sweep={sweep['id']}" in tab.evaluate("() => location.hash")
    expect(card).to_have_attribute("data-finished", "1", timeout=RUN_TIMEOUT_MS * 2)
    expect(card).to_have_attribute("data-polling", "0", timeout=UI_TIMEOUT_MS)
    expect(tab.locator("#sweep-results-table tbody tr")).to_have_count(6)
    expect(tab.locator("#sweep-chart circle.chart-point")).to_have_count(6, timeout=UI_TIMEOUT_MS)
    expect(listed).to_have_attribute("data-state", "finished", timeout=UI_TIMEOUT_MS)
    expect(listed).to_contain_text("6 completed")

    # Polling: one panel request at a time; the whole results table only when the counts changed (or a
    # completed row still lacked its summary, a few times at most); nothing once the sweep has ended.
    seen = fetches(tab, sweep["id"])
    assert max(f["concurrent"] for f in seen) == 1, seen
    results_reads = [f for f in seen if f["results"]]
    distinct_counts = {f["counts"] for f in seen if not f["results"] and "counts" in f}
    assert 1 <= len(results_reads) <= len(distinct_counts) + 4, seen
    tab.wait_for_timeout(3 * POLL_MS)  # an absence: three poll periods with no request
    assert len(fetches(tab, sweep["id"])) == len(seen)

    # A reload opens the same sweep from the URL.
    tab.reload()
    expect(card).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(tab.locator("#sweep-title")).to_have_text("Sweep api-ridge", timeout=UI_TIMEOUT_MS)
    expect(tab.locator("#sweep-results-table tbody tr")).to_have_count(6, timeout=UI_TIMEOUT_MS)
    expect(sweep_row(tab, sweep["id"])).to_have_class(re.compile(r"\bselected\b"), timeout=UI_TIMEOUT_MS)
    screenshot(tab, "sweeps-view")
    if os.environ.get("RUNPLANE_UPDATE_SCREENSHOTS") == "1":
        # The README's picture of a sweep (its panel and the list), refreshed on request only.
        tab.evaluate("() => window.scrollTo(0, 0)")
        box = tab.locator("#sweeps-card").bounding_box()
        assert box is not None
        DOCS_SWEEP_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        clip: FloatRect = {
            "x": 0,
            "y": 0,
            "width": VIEWPORT["width"],
            "height": box["y"] + box["height"] + 16,
        }
        tab.screenshot(path=str(DOCS_SWEEP_SCREENSHOT), full_page=True, clip=clip)

    # A trial of the results table opens its task, which names its sweep, trial and variation.
    first = tab.locator("#sweep-results-table tbody tr").first
    task_id = first.get_attribute("data-task-id")
    assert task_id
    first.get_by_role("link").click()
    view = tab.locator("#task-view")
    expect(view).to_be_visible(timeout=UI_TIMEOUT_MS)
    task = stack.task(task_id)
    assert (task["sweep_id"], task["trial"]) == (sweep["id"], int(first.locator("td").nth(2).inner_text()))
    facts = tab.locator("#task-facts")
    expect(facts.locator('[data-fact="sweep"] a')).to_have_text("sweep api-ridge", timeout=UI_TIMEOUT_MS)
    expect(facts.locator('[data-fact="trial"] dd')).to_have_text(str(task["trial"]))
    expect(facts.locator('[data-fact="variation"] dd')).to_have_text(
        f"alpha={task['variation_values']['alpha']:g}"
    )
    hash_now = tab.evaluate("() => location.hash")
    assert f"sweep={sweep['id']}" in hash_now and f"task={task_id}" in hash_now

    # The task's row links its sweep too; closing the panel and following the task's link reopens it.
    expect(row(tab, task_id).locator("a.sweep-link")).to_have_text("sweep api-ridge", timeout=UI_TIMEOUT_MS)
    tab.get_by_role("button", name="Close sweep view").click()
    expect(card).to_be_hidden()
    assert "sweep=" not in tab.evaluate("() => location.hash")
    facts.locator('[data-fact="sweep"] a').click()
    expect(card).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(tab.locator("#sweep-title")).to_have_text("Sweep api-ridge", timeout=UI_TIMEOUT_MS)
    assert outside == [], outside
    watch.assert_clean()


def test_cancel_sweep_asks_first_and_then_rereads_the_task_rows(
    page: tuple[Page, Watch], stack: Stack
) -> None:
    """A sweep started with "Sweep grid": closing its panel stops its polling; "Cancel sweep" asks first,
    saying how many unfinished tasks it stops, and does nothing on "Keep running"; once confirmed, the
    sweep's tasks are cancelled and the task rows show the API's message for them, not a stale one."""
    tab, watch = page
    record_fetches(tab)
    outside = same_origin_only(tab, stack)
    sign_in(tab, stack)
    tab.get_by_label("Model", exact=True).select_option("linear_reg")
    tab.get_by_label("Job name").fill("many-ridge")
    tab.get_by_label("Sweep repeats").fill("100")  # 300 tasks: most are still queued when we cancel
    tab.get_by_role("button", name="Sweep grid").click()
    expect(tab.locator("#submit-result")).to_contain_text("300 tasks", timeout=UI_TIMEOUT_MS)
    card = tab.locator("#sweep-view")
    expect(card).to_be_visible()
    sweep_id = card.get_attribute("data-sweep-id")
    assert sweep_id
    expect(sweep_row(tab, sweep_id)).to_be_visible(timeout=UI_TIMEOUT_MS)

    # Closed, the panel polls no more; opened again from the list, it polls again.
    expect(card).to_have_attribute("data-polling", "1", timeout=UI_TIMEOUT_MS)
    tab.get_by_role("button", name="Close sweep view").click()
    expect(card).to_have_attribute("data-polling", "0")
    before = len(fetches(tab, sweep_id))
    tab.wait_for_timeout(3 * POLL_MS)  # an absence: three poll periods with no request
    assert len(fetches(tab, sweep_id)) == before
    sweep_row(tab, sweep_id).get_by_role("link", name="many-ridge").click()
    expect(card).to_be_visible()
    expect(tab.locator("#sweep-counts")).to_contain_text("300 tasks", timeout=UI_TIMEOUT_MS)

    # "Keep running" cancels nothing.
    tab.get_by_role("button", name="Cancel sweep").click()
    confirm = tab.locator("#sweep-confirm")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text(re.compile(r"Stop \d+ unfinished tasks of sweep many-ridge\?"))
    asked = re.search(r"Stop (\d+) unfinished", confirm.inner_text())
    assert asked and 0 < int(asked.group(1)) <= 300
    tab.get_by_role("button", name="Keep running").click()
    expect(confirm).to_be_hidden()
    counts = stack.http.get(f"/v1/sweeps/{sweep_id}", headers=stack.user()).json()["counts"]
    assert counts["cancelled"] == 0, counts

    tab.get_by_role("button", name="Cancel sweep").click()
    expect(confirm).to_be_visible()
    tab.locator("#sweep-confirm-yes").click()
    expect(tab.locator("#sweep-notice")).to_contain_text("Cancelled ", timeout=UI_TIMEOUT_MS)
    expect(card).to_have_attribute("data-finished", "1", timeout=RUN_TIMEOUT_MS)
    answer = stack.http.get(f"/v1/sweeps/{sweep_id}", headers=stack.user()).json()
    assert answer["finished"] and answer["counts"]["cancelled"] > 0, answer
    expect(tab.locator("#sweep-cancel")).to_be_hidden()

    # The rows were read again: a cancelled row says what the API says, not "Queued".
    cancelled_rows = tab.locator('#tasks-body tr[data-status="cancelled"]')
    expect(cancelled_rows.first).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(
        tab.locator('#tasks-body tr[data-status="cancelled"] .row-message', has_text="Queued")
    ).to_have_count(0, timeout=UI_TIMEOUT_MS)
    one = cancelled_rows.first.get_attribute("data-task-id")
    assert one
    api_message = stack.task(one)["message"]
    expect(row(tab, one).locator(".row-message")).to_have_text(api_message)
    expect(sweep_row(tab, sweep_id)).to_have_attribute("data-state", "cancelled", timeout=UI_TIMEOUT_MS)
    screenshot(tab, "sweep-cancelled")
    assert outside == [], outside
    watch.assert_clean()
