"""X-Forwarded-For is trusted only from the proxies `RUNPLANE_FORWARDED_ALLOW_IPS` names (default: none).

gunicorn and uvicorn trust it from 127.0.0.1 unless told otherwise, so any local client (a task on `up`'s
local worker) could pick the address the audit log records and dodge the failed-auth limit, which is
counted per client address. A real `runplane serve` (the one gunicorn command line `up` uses too).
"""

from __future__ import annotations

import httpx
import pytest

from tests.support.server import running_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _refused_addresses(base_url: str, admin_key: str) -> list[str | None]:
    page = httpx.get(
        f"{base_url}/v1/audit/events",
        headers={"X-API-Key": admin_key},
        params={"event_type": "auth_attempt", "limit": 100},
        timeout=30,
    )
    assert page.status_code == 200, page.text
    return [event["ip_address"] for event in page.json()["events"]]


def test_forged_forwarded_for_is_ignored_by_default(tmp_path):
    env = {"RUNPLANE_AUTH_FAILURE_LIMIT": "3/minute"}
    with running_server(tmp_path / "data", env=env) as server:
        statuses = []
        for n in range(5):
            response = httpx.get(
                f"{server.base_url}/v1/queue",
                headers={"X-API-Key": f"rp_wrong-{n}", "X-Forwarded-For": f"203.0.113.{n + 1}"},
                timeout=30,
            )
            statuses.append(response.status_code)
        addresses = _refused_addresses(server.base_url, server.admin_key)

    # One address, one budget: a new forged address per request does not reset it.
    assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429], statuses
    assert addresses and set(addresses) == {"127.0.0.1"}, addresses


def test_forwarded_for_is_trusted_from_a_configured_proxy(tmp_path):
    env = {"RUNPLANE_AUTH_FAILURE_LIMIT": "3/minute", "RUNPLANE_FORWARDED_ALLOW_IPS": "127.0.0.1"}
    with running_server(tmp_path / "data", env=env) as server:
        statuses = [
            httpx.get(
                f"{server.base_url}/v1/queue",
                headers={"X-API-Key": f"rp_wrong-{n}", "X-Forwarded-For": f"203.0.113.{n + 1}"},
                timeout=30,
            ).status_code
            for n in range(5)
        ]
        addresses = _refused_addresses(server.base_url, server.admin_key)

    assert statuses == [401] * 5, statuses
    assert set(addresses) == {f"203.0.113.{n + 1}" for n in range(5)}, addresses
