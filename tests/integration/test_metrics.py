"""Prometheus `/metrics` and JSON `/v1/metrics`: in process, and on a real server with two gunicorn workers.

The HTTP counters are per process (summed over the server's processes through prometheus_client's
multiprocess files); in process they are this test process's, so the in-process tests compare
differences, never absolute values. The task, worker and event figures come from the database.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from runplane import metrics
from runplane.store.database import Database
from tests.conftest import auth
from tests.support.errors import assert_error
from tests.support.server import REPO_ROOT, running_server
from tests.support.waiting import poll
from tests.support.workers import claim, register, report, submit

pytestmark = [pytest.mark.integration]

TASK_STATUSES = ("queued", "preparing", "running", "collecting", "completed", "failed", "cancelled")


# --- reading an exposition ---------------------------------------------------------------------------


class Scrape:
    """One parsed `/metrics` answer: samples by (name, sorted labels)."""

    def __init__(self, text: str) -> None:
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self.samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in self.families.values():
            for sample in family.samples:
                self.samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def requests(self) -> Counter[tuple[str, int]]:
        """runplane_http_requests_total summed over methods, by (operation, status)."""
        found: Counter[tuple[str, int]] = Counter()
        for (name, labels), value in self.samples.items():
            if name == "runplane_http_requests_total":
                label = dict(labels)
                found[(label["operation"], int(label["status"]))] += int(value)
        return found

    def labelled(self, name: str, label: str) -> dict[str, int]:
        return {
            dict(labels)[label]: int(value)
            for (sample, labels), value in self.samples.items()
            if sample == name
        }

    def expected_snapshot(self) -> dict[str, Any]:
        """What /v1/metrics must say, read from this exposition (all but `http` and `timestamp`)."""

        def summary(prefix: str) -> dict[str, Any]:
            return {
                "count": int(self.value(f"{prefix}_count")),
                "sum": pytest.approx(self.value(f"{prefix}_sum")),
            }

        return {
            "tasks": self.labelled("runplane_tasks", "status"),
            "queue_depth": int(self.value("runplane_queue_depth")),
            "task_run_seconds": summary("runplane_task_run_duration_seconds"),
            "task_wait_seconds": summary("runplane_task_wait_duration_seconds"),
            "dispatch_latency_seconds": summary("runplane_task_dispatch_latency_seconds"),
            "workers": self.labelled("runplane_workers", "state"),
            "events": {
                "published": int(self.value("runplane_events_published_total")),
                "dropped": sum(self.labelled("runplane_events_dropped_total", "kind").values()),
            },
            "connections": self.labelled("runplane_live_connections", "kind"),
        }


def snapshot_requests(snapshot: dict[str, Any]) -> Counter[tuple[str, int]]:
    return Counter(
        {(item["operation"], item["status"]): item["count"] for item in snapshot["http"]["requests"]}
    )


def assert_agree(scrape: Scrape, snapshot: dict[str, Any], *, scrapes_between: int = 1) -> None:
    """/v1/metrics taken right after the /metrics scrape: the same figures, plus that scrape's request."""
    assert {key: snapshot[key] for key in scrape.expected_snapshot()} == scrape.expected_snapshot()
    expected = scrape.requests() + Counter({("get_prometheus_metrics", 200): scrapes_between})
    assert snapshot_requests(snapshot) == expected
    assert snapshot["http"]["latency_seconds_sum"] >= scrape.value(
        "runplane_http_request_duration_seconds_sum"
    )


# --- in process --------------------------------------------------------------------------------------


async def scrape(client: httpx.AsyncClient, **headers: str) -> Scrape:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape(response.text)


@pytest.mark.anyio
async def test_metrics_parse_and_count_requests_by_operation_and_status(client, user_key):
    before = await scrape(client)
    for family in ("runplane_http_requests", "runplane_http_request_duration_seconds", "runplane_tasks"):
        assert family in before.families
    assert before.families["runplane_http_requests"].type == "counter"
    assert before.families["runplane_task_run_duration_seconds"].type == "histogram"
    assert before.families["runplane_live_connections"].type == "gauge"

    for _ in range(3):
        assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/v1/tasks", headers=auth(user_key))).status_code == 200
    assert (await client.get("/v1/tasks", headers=auth("rp_not-a-key"))).status_code == 401
    assert (await client.get("/no/such/path/12345")).status_code == 404
    assert (await client.get("/no/such/path/67890")).status_code == 404

    after = await scrape(client)
    grown = after.requests() - before.requests()
    assert grown == Counter(
        {
            ("get_liveness", 200): 3,
            ("list_tasks", 200): 1,
            ("list_tasks", 401): 1,
            ("unrouted", 404): 2,
            ("get_prometheus_metrics", 200): 1,  # the first scrape, counted once it was answered
        }
    )
    assert after.value(
        "runplane_http_requests_total", operation="get_liveness", method="GET", status="200"
    ) == (
        before.value("runplane_http_requests_total", operation="get_liveness", method="GET", status="200") + 3
    )
    assert not any("/no/such" in str(key) for key in after.samples)  # paths are never labels
    liveness = {"operation": "get_liveness"}
    assert after.value("runplane_http_request_duration_seconds_count", **liveness) == (
        before.value("runplane_http_request_duration_seconds_count", **liveness) + 3
    )
    assert after.value("runplane_http_request_duration_seconds_bucket", le="+Inf", **liveness) == after.value(
        "runplane_http_request_duration_seconds_count", **liveness
    )


@pytest.mark.anyio
async def test_task_figures_match_the_tasks_and_json_agrees(client, user_key, admin_key, worker_key):
    ids = [await submit(client, user_key, f"job-{n}") for n in range(4)]
    assert (await client.delete(f"/v1/tasks/{ids[0]}", headers=auth(user_key))).status_code == 204
    # One task runs to completion through the worker API: dispatched, waited, ran.
    worker_id = await register(client, worker_key)
    assignment = await claim(client, worker_key, worker_id)
    assert assignment is not None
    running = assignment["task_id"]
    for status in ("running", "collecting", "completed"):
        answer = await report(client, worker_key, worker_id, running, status=status)
        assert answer.status_code == 200, answer.text

    prom = await scrape(client)
    assert prom.labelled("runplane_tasks", "status") == {
        **dict.fromkeys(TASK_STATUSES, 0),
        "queued": 2,
        "completed": 1,
        "cancelled": 1,
    }
    assert prom.value("runplane_queue_depth") == 2
    assert prom.labelled("runplane_workers", "state") == {"active": 1, "draining": 0, "offline": 0}
    assert prom.value("runplane_task_run_duration_seconds_count") == 1
    assert prom.value("runplane_task_wait_duration_seconds_count") == 1
    assert prom.value("runplane_task_run_duration_seconds_bucket", le="+Inf") == 1
    assert prom.value("runplane_task_run_duration_seconds_sum") >= 0
    assert prom.value("runplane_task_dispatch_latency_seconds_count") >= 1
    assert prom.value("runplane_events_published_total") > 0
    assert prom.labelled("runplane_live_connections", "kind") == {"websocket": 0, "sse": 0}

    # The event hub publishes what the log holds as it polls it (every event_poll_seconds), so the two
    # readings agree once it has caught up with these tasks' events: read both until it has.
    for _ in range(100):
        response = await client.get("/v1/metrics", headers=auth(admin_key))
        assert response.status_code == 200
        if response.json()["events"] == prom.expected_snapshot()["events"]:
            break
        prom = await scrape(client)
    assert_agree(prom, response.json())


class TestKeyRequired:
    @pytest.fixture
    def settings_overrides(self):
        return {"metrics_require_key": True}

    @pytest.mark.anyio
    async def test_metrics_can_require_a_key(self, client, user_key, worker_key):
        needs = "This server's /metrics needs an API key"
        assert_error(await client.get("/metrics"), 401, "UNAUTHORIZED", needs)
        assert_error(await client.get("/metrics", headers=auth("rp_wrong-key")), 401, "UNAUTHORIZED", needs)
        for key in (user_key, worker_key):
            assert (await client.get("/metrics", headers=auth(key))).status_code == 200
        assert (await client.get("/healthz")).status_code == 200  # the probes stay open


@pytest.mark.anyio
async def test_metrics_are_open_by_default_and_ignore_a_wrong_key(client):
    assert (await client.get("/metrics")).status_code == 200
    assert (await client.get("/metrics", headers=auth("rp_wrong-key"))).status_code == 200


@pytest.mark.anyio
async def test_concurrent_scrapes_share_one_computation(settings):
    db = Database(settings.sqlalchemy_url)
    try:
        shared = await asyncio.gather(
            *(metrics.shared_database_figures(db, settings.database_backend) for _ in range(5))
        )
        assert all(figures is shared[0] for figures in shared)
        later = await metrics.shared_database_figures(db, settings.database_backend)
        assert later is not shared[0] and later == shared[0]  # a later scrape computes afresh
    finally:
        await db.close()


# --- a real server with two gunicorn workers ---------------------------------------------------------


def _concurrently(
    base_url: str, path: str, count: int, headers: dict[str, str] | None = None
) -> list[httpx.Response]:
    """Concurrent requests, each on a fresh connection (so either server process may accept each)."""

    def one(_: int) -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            response = http.get(path, headers=headers)
            response.read()
            return response

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(count)))


def _per_process(metrics_dir: Path, operation: str) -> dict[str, int]:
    """Requests of `operation` each server process counted, read from its own multiprocess file."""
    counted: dict[str, int] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        for key, value, _timestamp, _ in MmapedDict.read_all_values_from_file(str(path)):
            _family, sample, labels, _help = json.loads(key)
            if sample == "runplane_http_requests_total" and labels["operation"] == operation:
                counted[pid] = counted.get(pid, 0) + int(value)
    return counted


def _until_both_answer(base_url: str, path: str, metrics_dir: Path, operation: str) -> list[httpx.Response]:
    """Bursts of concurrent `path` requests until both server processes have answered some of them.

    The kernel hands a shared listening socket's connections to whichever process accepts first, and a
    worker still booting accepts none: one burst can land on one process, so this sends more until
    each has counted at least one (at most 60 s). Returns every response, in order."""
    before = _per_process(metrics_dir, operation)

    def both_answered() -> bool:
        after = _per_process(metrics_dir, operation)
        return len([pid for pid in after if after[pid] > before.get(pid, 0)]) >= 2

    responses: list[httpx.Response] = []

    def burst() -> bool:
        responses.extend(_concurrently(base_url, path, 20))
        return both_answered()

    poll(burst, timeout=60, what=f"both server processes to answer {path}", interval=0)
    return responses


@pytest.mark.slow
def test_two_workers_give_one_truth(tmp_path):
    with running_server(tmp_path / "server", workers=2) as server:
        admin = {"X-API-Key": server.admin_key}
        base = server.base_url
        metrics_dir = tmp_path / "server" / "prometheus"
        with httpx.Client(base_url=base, timeout=30) as http:
            created = http.post("/v1/keys", headers=admin, json={"name": "m-user", "role": "user"})
            user = {"X-API-Key": created.json()["key"]}
            submitted = []
            for n in range(5):
                task = http.post("/v1/tasks", headers=user, json={"job_name": f"j{n}", "entrypoint": "true"})
                assert task.status_code == 201, task.text
                submitted.append(task.json()["id"])
            for task_id in submitted[:2]:
                assert http.delete(f"/v1/tasks/{task_id}", headers=user).status_code == 204
            first = Scrape(http.get("/metrics").text)

        probes = _until_both_answer(base, "/healthz", metrics_dir, "get_liveness")
        assert {r.status_code for r in probes} == {200}
        # A process counts a request after its answer has gone out: the last counts may come a moment later.
        by_process = poll(
            lambda: (
                counted
                if sum((counted := _per_process(metrics_dir, "get_liveness")).values()) >= len(probes)
                else None
            ),
            timeout=30,
            what="every probe counted",
        )
        assert sum(by_process.values()) == len(probes) and len(by_process) == 2, by_process

        # Every scrape sees all the probes, whichever process answers it.
        scrapes = [
            Scrape(r.text)
            for r in _until_both_answer(base, "/metrics", metrics_dir, "get_prometheus_metrics")
        ]
        for later in scrapes:
            assert (later.requests() - first.requests())[("get_liveness", 200)] == len(probes)
            assert later.labelled("runplane_tasks", "status") == {
                **dict.fromkeys(TASK_STATUSES, 0),
                "queued": 3,
                "cancelled": 2,
            }
            assert later.value("runplane_queue_depth") == 3

        with httpx.Client(base_url=base, timeout=30) as http:
            prom = Scrape(http.get("/metrics").text)
            assert_agree(prom, http.get("/v1/metrics", headers=admin).json())
            listed = http.get("/v1/tasks", headers=admin, params={"limit": 100}).json()
        assert Counter(task["status"] for task in listed["tasks"]) == {"queued": 3, "cancelled": 2}

        # A worker dies and gunicorn replaces it: its counts stay, its share of the live gauges goes.
        dead = next(iter(by_process))
        os.kill(int(dead), signal.SIGKILL)
        poll(lambda: not (metrics_dir / f"gauge_livesum_{dead}.db").exists(), timeout=30, what="child_exit")
        poll(lambda: len(list(metrics_dir.glob("gauge_livesum_*.db"))) == 2, timeout=60, what="a new worker")
        after = Scrape(httpx.get(f"{base}/metrics", timeout=30).text)
        assert (after.requests() - first.requests())[("get_liveness", 200)] == len(probes)
        assert after.labelled("runplane_live_connections", "kind") == {"websocket": 0, "sse": 0}


# --- real tasks run by a real worker agent -----------------------------------------------------------


@contextmanager
def _worker_agent(base_url: str, key: str, root: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "runplane.cli", "worker", "--api", base_url, "--name", "metrics-w"]
    command += ["--slots", "2", "--work-dir", str(root / "work")]
    with (root / "worker.log").open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, "RUNPLANE_WORKER_KEY": key},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.mark.slow
def test_tasks_run_by_a_worker_agent_are_counted(tmp_path):
    sleeps = "python -c 'import time; time.sleep(0.5)'"
    bodies = [
        {"job_name": "ok-1", "entrypoint": sleeps},
        {"job_name": "ok-2", "entrypoint": sleeps},
        {"job_name": "fails", "entrypoint": "python -c 'raise SystemExit(3)'"},
    ]
    with (
        running_server(tmp_path / "server", workers=2) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as http,
    ):
        admin = {"X-API-Key": server.admin_key}
        keys = {
            role: http.post("/v1/keys", headers=admin, json={"name": f"m-{role}", "role": role}).json()["key"]
            for role in ("worker", "user")
        }
        user = {"X-API-Key": keys["user"]}
        with _worker_agent(server.base_url, keys["worker"], tmp_path) as agent:
            ids = []
            for body in bodies:
                created = http.post("/v1/tasks", headers=user, json=body)
                assert created.status_code == 201, created.text
                ids.append(created.json()["id"])

            def ended() -> list[dict[str, Any]] | None:
                assert agent.poll() is None, (tmp_path / "worker.log").read_text()
                tasks = [http.get(f"/v1/tasks/{task_id}", headers=user).json() for task_id in ids]
                return (
                    tasks if all(t["status"] in ("completed", "failed", "cancelled") for t in tasks) else None
                )

            tasks = poll(ended, timeout=120, what="the tasks to end")
            prom = Scrape(http.get("/metrics").text)
            snapshot = http.get("/v1/metrics", headers=admin).json()

    assert [t["status"] for t in tasks] == ["completed", "completed", "failed"]
    assert {k: v for k, v in prom.labelled("runplane_tasks", "status").items() if v} == {
        "completed": 2,
        "failed": 1,
    }
    assert prom.labelled("runplane_workers", "state")["active"] == 1
    assert prom.value("runplane_task_run_duration_seconds_count") == 3
    assert prom.value("runplane_task_wait_duration_seconds_count") == 3
    assert prom.value("runplane_task_dispatch_latency_seconds_count") == 3
    ran = sum(
        (datetime.fromisoformat(t["ended_at"]) - datetime.fromisoformat(t["started_at"])).total_seconds()
        for t in tasks
    )
    assert prom.value("runplane_task_run_duration_seconds_sum") == pytest.approx(ran, abs=0.01)
    assert prom.value("runplane_task_run_duration_seconds_sum") >= 1.0  # two tasks slept 0.5 s each
    assert prom.value("runplane_task_run_duration_seconds_bucket", le="0.1") <= 1  # only the failing one
    assert snapshot["tasks"]["completed"] == 2 and snapshot["tasks"]["failed"] == 1
    assert snapshot["task_run_seconds"] == {"count": 3, "sum": pytest.approx(ran, abs=0.01)}
    assert snapshot["dispatch_latency_seconds"]["count"] == 3
    assert snapshot["events"]["published"] >= 3 * 4  # queued→preparing→running→…→end, and completions
