"""Shared fixtures: a fresh database per test on SQLite and PostgreSQL, the app, keys and clients.

PostgreSQL databases are cloned from a template migrated once per test session, so each test gets its
own database in milliseconds. Without a reachable PostgreSQL the postgres variants are skipped with the
reason, except when RUNPLANE_REQUIRE_SERVICES=1 (CI), where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from psycopg import sql

from runplane.app import build_services, create_app
from runplane.keys import create_key
from runplane.settings import Settings
from runplane.store.database import Database, migrate
from runplane.store.keys import KeyStore
from runplane.workers import WorkerManager
from tests.support.openapi import validate_exchange

POSTGRES_ADMIN_URL = os.environ.get(
    "RUNPLANE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_SERVICES = os.environ.get("RUNPLANE_REQUIRE_SERVICES") == "1"

# A worker run as root runs its tasks as `nobody`, who cannot enter pytest's root-only temporary
# directories (0o700): the worker would refuse to start. Workers the tests start therefore run tasks as
# the tests' own user unless a test asks otherwise (tests/integration/test_execution.py and
# tests/integration/test_task_isolation.py run them as `nobody` in directories it can reach).
os.environ.setdefault("RUNPLANE_WORKER_TASK_USER", str(os.geteuid()))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _postgres_unavailable() -> str | None:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {str(exc).strip().splitlines()[0]}"


def _database_url(admin_url: str, name: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def postgres_template(worker_id: str) -> Iterator[str]:
    problem = _postgres_unavailable()
    if problem:
        if REQUIRE_SERVICES:
            pytest.fail(problem)
        pytest.skip(problem)
    name = f"runplane_tpl_{worker_id}_{os.getpid()}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    migrate(_database_url(POSTGRES_ADMIN_URL, name).replace("postgresql://", "postgresql+psycopg://", 1))
    yield name
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    # pytest-xdist provides this fixture when it runs; alone, we are the only worker.
    workerinput = getattr(request.config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else "main"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'runplane.sqlite3'}"
        migrate(url)
        yield url
        return
    template = request.getfixturevalue("postgres_template")
    name = f"rp_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        )
    yield _database_url(POSTGRES_ADMIN_URL, name).replace("postgresql://", "postgresql+psycopg://", 1)
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Tests override individual settings by redefining this fixture."""
    return {}


@pytest.fixture
def settings(database_url: str, tmp_path: Path, settings_overrides: dict[str, Any]) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "rate_limit": "100000/minute",
        "auth_failure_limit": "100000/minute",
        # No background reaper in process: tests that need it run WorkerManager.reap() themselves (or
        # override reaper_seconds), so a reaper pass never changes a task between two asserts.
        "reaper_seconds": 0,
        **settings_overrides,
    }
    (tmp_path / "data").mkdir(exist_ok=True)
    return Settings(**values)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with LifespanManager(application) as manager:
        yield manager.app


async def _new_key(settings: Settings, role: str, name: str) -> str:
    db = Database(settings.sqlalchemy_url)
    try:
        _, secret = await create_key(KeyStore(db), name=name, role=role)
        return secret
    finally:
        await db.close()


@pytest.fixture
async def admin_key(settings: Settings) -> str:
    return await _new_key(settings, "admin", "root")


@pytest.fixture
async def user_key(settings: Settings) -> str:
    return await _new_key(settings, "user", "alice")


@pytest.fixture
async def other_user_key(settings: Settings) -> str:
    return await _new_key(settings, "user", "bob")


@pytest.fixture
async def worker_key(settings: Settings) -> str:
    return await _new_key(settings, "worker", "worker-1")


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app in-process; every response is checked against openapi.yaml."""

    async def check(response: httpx.Response) -> None:
        await response.aread()
        validate_exchange(response)

    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", event_hooks={"response": [check]}
    ) as http:
        yield http


def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    """A database handle on the test's database, for looking behind the API."""
    database = Database(settings.sqlalchemy_url)
    yield database
    await database.close()


@pytest.fixture
async def manager(settings: Settings) -> AsyncIterator[WorkerManager]:
    """The worker manager as the app wires it, for running reaper passes by hand."""
    services = build_services(settings)
    yield services.workers
    await services.limiter.close()
    await services.db.close()
