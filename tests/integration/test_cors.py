"""CORS for configured browser origins: preflights answered before any key check, answers readable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from runplane.settings import DEFAULT_CORS_ORIGINS, Settings
from tests.conftest import auth

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

FRONT_END = "http://localhost:5173"


@pytest.fixture
async def raw(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client without the contract check: preflights are not operations of the contract."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def preflight(origin: str, method: str = "POST", headers: str = "x-api-key, content-type") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


def test_the_default_origins_are_the_usual_local_front_end_ports() -> None:
    assert Settings().cors_origins == list(DEFAULT_CORS_ORIGINS)
    assert {"http://localhost:3000", "http://127.0.0.1:5173", "http://localhost:8080"} <= set(
        DEFAULT_CORS_ORIGINS
    )


def test_origins_come_comma_separated_and_must_be_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPLANE_CORS_ORIGINS", "https://app.example.com, http://10.0.0.5:4200/")
    assert Settings().cors_origins == ["https://app.example.com", "http://10.0.0.5:4200"]
    monkeypatch.setenv("RUNPLANE_CORS_ORIGINS", "")
    assert Settings().cors_origins == []
    monkeypatch.setenv("RUNPLANE_CORS_ORIGINS", "http://app.example.com/path")
    with pytest.raises(ValueError, match="not an origin"):
        Settings()


async def test_a_preflight_from_a_local_front_end_is_answered_without_a_key(raw) -> None:
    response = await raw.options("/api/runs", headers=preflight(FRONT_END))
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == FRONT_END
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"x-api-key", "content-type", "idempotency-key"} <= allowed
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_answers_to_an_allowed_origin_are_readable_errors_included(raw, user_key) -> None:
    listed = await raw.get("/api/models", headers={"Origin": FRONT_END, **auth(user_key)})
    assert listed.status_code == 200
    assert listed.headers["access-control-allow-origin"] == FRONT_END
    assert "x-trace-id" in listed.headers["access-control-expose-headers"].lower()
    refused = await raw.get("/api/models", headers={"Origin": FRONT_END, "X-API-Key": "rp_wrong"})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == FRONT_END


async def test_another_origin_gets_no_cors_and_its_preflight_a_uniform_error(raw, user_key) -> None:
    evil = "http://evil.example"
    response = await raw.options("/api/runs", headers=preflight(evil))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "BAD_REQUEST" and body["details"]["origin"] == evil
    assert body["trace_id"] == response.headers["x-trace-id"]
    assert "access-control-allow-origin" not in response.headers
    plain = await raw.get("/api/models", headers={"Origin": evil, **auth(user_key)})
    assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers


@pytest.mark.parametrize("settings_overrides", [{"cors_origins": []}])
async def test_no_configured_origins_means_no_cors(raw, user_key) -> None:
    response = await raw.options("/api/runs", headers=preflight(FRONT_END))
    assert "access-control-allow-origin" not in response.headers
    assert response.status_code in (400, 405)
