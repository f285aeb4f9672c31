"""Probes, health report, configuration and the offline docs."""

from __future__ import annotations

import pytest

from runplane.app import load_spec
from tests.conftest import auth

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def test_probes_need_no_key(client):
    assert (await client.get("/healthz")).text == "ok"
    ready = await client.get("/readyz")
    assert (ready.status_code, ready.text) == (200, "ready")
    health = await client.get("/health")
    assert health.status_code == 200
    report = health.json()
    assert report["status"] in ("healthy", "degraded")
    assert {check["name"] for check in report["checks"]} == {"database", "migrations", "rate_limits", "disk"}
    assert next(c for c in report["checks"] if c["name"] == "database")["status"] == "healthy"


async def test_liveness_answered_before_connexion_keeps_the_contract(client):
    """`GET /healthz` is served ahead of connexion (runplane.app, the API's fixed cost): same answer,
    same headers from the middleware chain, and other methods still get connexion's uniform 405."""
    probe = await client.get("/healthz", headers={"X-Trace-Id": "probe-trace-1"})
    assert (probe.status_code, probe.text) == (200, "ok")
    assert probe.headers["content-type"] == "text/plain; charset=utf-8"
    assert probe.headers["x-trace-id"] == "probe-trace-1"
    refused = await client.post("/healthz")
    assert refused.status_code == 405
    assert refused.headers["content-type"] == "application/json"
    assert refused.json()["code"] == "METHOD_NOT_ALLOWED"
    assert refused.headers["allow"] == "GET, HEAD"


@pytest.fixture
def settings_overrides():
    return {"admin_key": "rp_admin-secret-value-0123456789", "redis_url": "redis://:redispass@127.0.0.1:1/0"}


async def test_config_has_no_secret(client, user_key, settings):
    admin = auth("rp_admin-secret-value-0123456789")
    response = await client.get("/v1/config", headers=admin)
    assert response.status_code == 200
    config = response.json()
    assert "rp_admin-secret-value" not in response.text and "redispass" not in response.text
    assert config["admin_key_configured"] is True
    assert config["redis_url"] == "redis://:<redacted>@127.0.0.1:1/0"
    assert config["rate_limit"] == settings.rate_limit
    assert config["lease_seconds"] == settings.lease_seconds
    assert config["worker_rate_limit"] == settings.worker_rate_limit
    # Every setting is shown except the secret itself, which becomes a yes/no; one without a value (no log
    # file) is omitted, as in every answer.
    unset = {name for name, value in settings.model_dump().items() if value is None}
    shown = set(type(settings).model_fields) - {"admin_key"} - unset
    assert shown <= set(config) and "admin_key" not in config
    assert "log_file" in unset and "log_file" not in config
    assert config["log_format"] == "json" and config["cors_origins"] == settings.cors_origins
    assert (await client.get("/v1/config", headers=auth(user_key))).status_code == 403


@pytest.mark.parametrize("path", ["/docs/", "/redoc", "/openapi.json"])
async def test_docs_are_served_without_a_cdn(client, path):
    response = await client.get(path, follow_redirects=True)
    assert response.status_code == 200
    for cdn in ("cdn.", "unpkg.com", "jsdelivr", "googleapis"):
        assert cdn not in response.text


async def test_the_served_contract_names_this_server(client):
    served = (await client.get("/openapi.json")).json()
    assert served["servers"] == [{"url": "http://testserver", "description": "This server"}]
    assert served["paths"].keys() == load_spec()["paths"].keys()
    other = await client.get("/openapi.json", headers={"Host": "runplane.internal:9200"})
    assert other.json()["servers"][0]["url"] == "http://runplane.internal:9200"


async def test_docs_assets_are_local(client):
    assert (await client.get("/static/redoc/redoc.standalone.js")).status_code == 200
    page = (await client.get("/docs/")).text
    assert "swagger-ui-bundle.js" in page
