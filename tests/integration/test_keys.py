"""API keys: shown once, stored hashed, revocable, admin-only management."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from sqlalchemy import select

from runplane.store.database import Database
from runplane.store.tables import ApiKeyRow
from tests.conftest import auth
from tests.support.errors import assert_error

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def test_create_use_and_revoke_a_key(client, admin_key, settings):
    created = await client.post("/v1/keys", headers=auth(admin_key), json={"name": "carol", "role": "user"})
    assert created.status_code == 201
    key = created.json()
    secret = key["key"]
    assert key["user_id"] == "carol" and key["role"] == "user" and secret.startswith(key["prefix"])
    assert (await client.get("/v1/tasks", headers=auth(secret))).status_code == 200

    db = Database(settings.sqlalchemy_url)
    async with db.reader() as session:
        stored = (await session.scalars(select(ApiKeyRow).where(ApiKeyRow.id == key["id"]))).one()
    await db.close()
    assert stored.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(vars(stored))

    listed = await client.get("/v1/keys", headers=auth(admin_key))
    assert secret not in listed.text
    assert {k["name"] for k in listed.json()["keys"]} == {"root", "carol"}

    assert (await client.delete(f"/v1/keys/{key['id']}", headers=auth(admin_key))).status_code == 204
    assert_error(
        await client.get("/v1/tasks", headers=auth(secret)),
        401,
        "UNAUTHORIZED",
        "Provided apikey is not valid",
    )


async def test_key_names_are_unique_among_active_keys(client, admin_key):
    await client.post("/v1/keys", headers=auth(admin_key), json={"name": "dup", "role": "user"})
    again = await client.post("/v1/keys", headers=auth(admin_key), json={"name": "dup", "role": "user"})
    assert_error(again, 409, "CONFLICT", "An active key named 'dup' already exists", {"field": "name"})


async def test_users_cannot_manage_keys(client, user_key):
    response = await client.post("/v1/keys", headers=auth(user_key), json={"name": "x", "role": "admin"})
    assert_error(response, 403, "FORBIDDEN", "This operation needs the admin role", {"role": "user"})
    assert (await client.get("/v1/keys", headers=auth(user_key))).status_code == 403


async def test_revoking_an_unknown_key_is_404(client, admin_key):
    response = await client.delete("/v1/keys/doesnotexist", headers=auth(admin_key))
    assert_error(response, 404, "NOT_FOUND", "API key not found")


@pytest.fixture
def settings_overrides():
    return {"admin_key": "rp_env-admin-key-for-scripts-0123456789"}


async def test_the_configured_admin_key_works(client):
    response = await client.get("/v1/keys", headers=auth("rp_env-admin-key-for-scripts-0123456789"))
    assert response.status_code == 200


async def test_a_revocation_reaches_another_server_process_at_once(client, admin_key, settings):
    # A second app on the same settings is what a second gunicorn worker is: its own key cache, the same
    # database and the same rate-limit storage (where the revocation epoch lives).
    from asgi_lifespan import LifespanManager

    from runplane.app import create_app

    created = await client.post("/v1/keys", headers=auth(admin_key), json={"name": "dora", "role": "user"})
    secret = created.json()["key"]
    other_app = create_app(settings)
    async with LifespanManager(other_app) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("127.0.0.1", 50001))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            # Resolved (and cached) by the other process, twice.
            for _ in range(2):
                assert (await other.get("/v1/tasks", headers=auth(secret))).status_code == 200
            assert (
                await client.delete(f"/v1/keys/{created.json()['id']}", headers=auth(admin_key))
            ).status_code == 204
            assert_error(
                await other.get("/v1/tasks", headers=auth(secret)),
                401,
                "UNAUTHORIZED",
                "Provided apikey is not valid",
            )


async def test_a_local_cli_revocation_reaches_a_running_server_at_once(
    client, admin_key, settings, monkeypatch
):
    from runplane.cli_local import revoke_local_key

    created = await client.post("/v1/keys", headers=auth(admin_key), json={"name": "erin", "role": "user"})
    secret = created.json()["key"]
    assert (await client.get("/v1/tasks", headers=auth(secret))).status_code == 200
    # `runplane keys revoke --local` reads the same settings from the environment.
    monkeypatch.setenv("RUNPLANE_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("RUNPLANE_DATABASE_URL", settings.database_url)
    await revoke_local_key(created.json()["id"])
    assert_error(
        await client.get("/v1/tasks", headers=auth(secret)),
        401,
        "UNAUTHORIZED",
        "Provided apikey is not valid",
    )
