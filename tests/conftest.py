"""Shared fixtures: a fresh database per test on SQLite and PostgreSQL, the app, keys and clients.

PostgreSQL databases are cloned from a template migrated once per test session, one clone ahead in a
background thread (a clone took 0.4-1 s, and the test waited for it), and dropped in that thread; SQLite
databases are copies of a file migrated once per session (running the migrations took 0.5-1.5 s per test
on a 2-core machine; tests/integration/test_migrations.py runs them for real). Each test still gets its
own fresh database. Without a reachable PostgreSQL the postgres variants are skipped with the reason, except when
RUNPLANE_REQUIRE_SERVICES=1 (CI), where that is a failure.

The connexion app validates openapi.yaml against the OpenAPI schema each time it is built (about 1.5 s of
the 2 s `create_app` took per test): `_validate_spec_once` keeps that check, once per process and spec.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from connexion.spec import Specification
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


def _validate_spec_once() -> None:
    """Make connexion validate each distinct spec once per test process instead of once per app.

    `Specification.__init__` checks the whole spec against the OpenAPI 3.0 schema (jsonschema, ~1.5 s
    for openapi.yaml); every app a test builds gets the same spec. The spec's JSON text keys the cache, so
    a changed spec is validated again, and an invalid one raises every time (nothing failing is cached).
    Real servers (`runplane serve` subprocesses) are not affected.
    """
    original = Specification.__dict__["_validate_spec"].__func__
    validated: set[str] = set()

    def validate(cls: type[Specification], spec: dict[str, Any]) -> None:
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()
        if digest not in validated:
            original(cls, spec)
            validated.add(digest)

    Specification._validate_spec = classmethod(validate)


_validate_spec_once()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run files with a `slow` test first, then the others, most tests first; a file's own order is kept.

    `make test` hands whole files to two processes in this order (`--dist loadfile
    --no-loadscope-reorder`). xdist's own order (most tests first) left the few-test files that take a
    minute or more (schemathesis' three roles, the plugins' and chaos runs) to the end, where one process
    ran them while the other had nothing left; started first, the many short files fill in around them.
    The sort is stable and by file, so pytest's grouping of tests by module-scoped parameters is kept.
    """
    counts: dict[str, int] = {}
    slow: set[str] = set()
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        counts[path] = counts.get(path, 0) + 1
        if item.get_closest_marker("slow") is not None:
            slow.add(path)
    first_seen = {path: index for index, path in enumerate(counts)}

    def file_order(item: pytest.Item) -> tuple[bool, int, int]:
        path = item.nodeid.split("::", 1)[0]
        return (path not in slow, -counts[path], first_seen[path])

    items.sort(key=file_order)


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


def _sqlalchemy_url(name: str) -> str:
    return _database_url(POSTGRES_ADMIN_URL, name).replace("postgresql://", "postgresql+psycopg://", 1)


class PostgresClones:
    """Fresh PostgreSQL databases cloned from `template`, the next one made while the current test runs.

    One background thread runs every CREATE DATABASE ... TEMPLATE in order (two clones of one template
    at once would fail: a template must have no other connection); another runs the DROP DATABASEs, so
    the next clone never waits behind a drop (a drop took 1-4 s on a loaded 2-core machine, longer than
    many tests). `take` returns a database name made for the caller alone; `give_back` drops it later;
    `close` waits for all of it and raises the first error any of it met.
    """

    def __init__(self, template: str) -> None:
        self.template = template
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="postgres-clones")
        self._drop_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="postgres-drops")
        self._next: Future[str] | None = None
        self._drops: list[Future[None]] = []

    def _create(self) -> str:
        name = f"rp_test_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(self.template)
                )
            )
        return name

    @staticmethod
    def _drop(name: str) -> None:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def take(self) -> str:
        """A new database's name (blocks until it exists); starts making the next one."""
        current = self._next or self._thread.submit(self._create)
        self._next = self._thread.submit(self._create)
        return current.result()

    def give_back(self, name: str) -> None:
        """Drops the database `name` in the background (its connections are ended: WITH (FORCE))."""
        self._drops.append(self._drop_thread.submit(self._drop, name))

    def close(self) -> None:
        try:
            if self._next is not None:
                try:
                    self.give_back(self._next.result())
                finally:
                    self._next = None
        finally:
            self._thread.shutdown(wait=True)
            self._drop_thread.shutdown(wait=True)
        for drop in self._drops:
            drop.result()


@pytest.fixture(scope="session")
def postgres_clones(postgres_template: str) -> Iterator[PostgresClones]:
    """Fresh databases from the session's PostgreSQL template (closed before the template is dropped)."""
    clones = PostgresClones(postgres_template)
    try:
        yield clones
    finally:
        clones.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database file migrated once per test process: tests get copies (`fresh_sqlite`)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "runplane.sqlite3"
    migrate(f"sqlite+aiosqlite:///{path}")
    # The migration's connection is closed, so SQLite has checkpointed its WAL into the main file.
    leftovers = [p.name for p in path.parent.iterdir() if p != path]
    assert not leftovers, (
        f"the migrated SQLite template left {leftovers}: copying the file alone is not enough"
    )
    return path


def fresh_sqlite(request: pytest.FixtureRequest, path: Path) -> str:
    """A migrated SQLite database at `path` (a copy of the session's template); returns its URL."""
    template: Path = request.getfixturevalue("sqlite_template")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    # pytest-xdist provides this fixture when it runs; alone, we are the only worker.
    workerinput = getattr(request.config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else "main"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test, on each backend."""
    if request.param == "sqlite":
        yield fresh_sqlite(request, tmp_path / "runplane.sqlite3")
        return
    clones: PostgresClones = request.getfixturevalue("postgres_clones")
    name = clones.take()
    try:
        yield _sqlalchemy_url(name)
    finally:
        clones.give_back(name)


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
