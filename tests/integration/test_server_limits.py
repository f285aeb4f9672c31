"""Rate limits hold across the server's processes: a real server, two gunicorn workers, one budget."""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.server import running_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REDIS_URL = os.environ.get("RUNPLANE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def _hammer(base_url: str, key: str, requests: int) -> tuple[Counter[int], list[httpx.Response]]:
    """Many concurrent requests over separate connections, so both gunicorn workers serve them."""

    def one(_: int) -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            return http.get("/v1/queue", headers={"X-API-Key": key})

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(one, range(requests)))
    return Counter(r.status_code for r in responses), responses


@pytest.mark.parametrize("storage", ["sqlite", "redis"])
def test_one_budget_across_two_workers(tmp_path, storage):
    env = {"RUNPLANE_RATE_LIMIT": "20/minute"}
    if storage == "redis":
        if not _redis_available():
            if os.environ.get("RUNPLANE_REQUIRE_SERVICES") == "1":
                pytest.fail(f"Redis not reachable at {REDIS_URL}")
            pytest.skip(f"Redis not reachable at {REDIS_URL}")
        env["RUNPLANE_REDIS_URL"] = REDIS_URL
    with running_server(tmp_path / storage, workers=2, env=env) as server:
        created = httpx.post(
            f"{server.base_url}/v1/keys",
            headers={"X-API-Key": server.admin_key},
            json={"name": f"limited-{storage}-{os.getpid()}", "role": "user"},
        )
        key = created.json()["key"]
        counts, responses = _hammer(server.base_url, key, 40)

    assert counts == Counter({200: 20, 429: 20}), counts
    refused = next(r for r in responses if r.status_code == 429)
    body = refused.json()
    assert body == {
        "error": "Rate limit exceeded",
        "code": "RATE_LIMITED",
        "trace_id": refused.headers["x-trace-id"],
        "details": {"limit": "20/minute", "retry_after_seconds": int(refused.headers["retry-after"])},
    }
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-remaining"] == "0"
    accepted = next(r for r in responses if r.status_code == 200)
    assert int(accepted.headers["ratelimit-limit"]) == 20


def test_failed_keys_are_limited_per_address(tmp_path):
    env = {"RUNPLANE_AUTH_FAILURE_LIMIT": "5/minute"}
    with (
        running_server(tmp_path, workers=2, env=env) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as http,
    ):
        statuses = [
            http.get("/v1/tasks", headers={"X-API-Key": f"rp_wrong-{i}"}).status_code for i in range(8)
        ]
        blocked = http.get("/v1/tasks", headers={"X-API-Key": "rp_wrong-again"})
        valid = http.get("/v1/tasks", headers={"X-API-Key": server.admin_key})
        anonymous = http.get("/v1/tasks")
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 3
    assert blocked.status_code == 429
    body = blocked.json()
    assert body["error"] == "Too many failed API key attempts" and body["code"] == "RATE_LIMITED"
    assert body["details"]["limit"] == "5/minute" and int(blocked.headers["retry-after"]) >= 1
    assert anonymous.status_code == 429
    # A valid key from the same address (a worker on the host of the task sending bad keys) is served.
    assert valid.status_code == 200, valid.text
