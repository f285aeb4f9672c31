"""The async database handle: engine, sessions, SQLite tuning and migrations to head."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from runplane.periodic import Periodic

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# An open write transaction, as code above the store sees it: a handle that the store gives to a hook it
# calls inside its transaction (the run record of a task's end, `runplane.results`), to be handed back to
# store functions that then write in that transaction. Nothing above the store runs SQL on it.
Transaction = AsyncSession


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; busy_timeout makes concurrent writers from several
    # server processes wait for the lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Erased secret values must not stay readable in freed page space; the WAL copies of the old pages
    # are removed by the periodic checkpoint (Database.checkpoint, WalCheckpointer).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def sync_url(async_url: str) -> str:
    """The same database through a synchronous driver, for Alembic."""
    url = make_url(async_url)
    if url.drivername == "sqlite+aiosqlite":
        url = url.set(drivername="sqlite")
    return url.render_as_string(hide_password=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "no migrations found"
    return head


def migrate(url: str) -> None:
    """Bring the schema to the newest migration (safe to run from several processes at start-up)."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(sync_url(url), poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _tune_sqlite)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Serialise concurrent migrators (several hosts starting at once).
                connection.execute(text("SELECT pg_advisory_xact_lock(727274)"))
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


class DatabaseUnreachable(Exception):
    """The database cannot be opened; the message is the driver's reason (its first line)."""


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for other databases and for an in-memory one."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


def schema_revision(url: str) -> str | None:
    """The Alembic revision of the runplane schema at ``url``, without creating anything.

    None when there is no runplane schema there: a SQLite file that does not exist (it is not created),
    or a database without runplane's ``alembic_version``. Raises `DatabaseUnreachable` when the database
    cannot be reached.
    """
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is None or not path.is_file():
            return None
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise DatabaseUnreachable(str(exc.orig or exc).strip().splitlines()[0]) from None
    finally:
        engine.dispose()


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        options: dict[str, Any] = {}
        if url.startswith("postgresql"):
            options.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **options)
        self.backend = self.engine.dialect.name
        if self.backend == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _tune_sqlite)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed when the block ends normally, rolled back otherwise."""
        async with self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def current_revision(self) -> str | None:
        def read(connection: Connection) -> str | None:
            return MigrationContext.configure(connection).get_current_revision()

        async with self.engine.connect() as connection:
            return await connection.run_sync(read)

    async def checkpoint(self) -> bool:
        """SQLite: copy the write-ahead log into the database file and truncate it to zero bytes
        (``PRAGMA wal_checkpoint(TRUNCATE)``), so pages that held erased values leave the ``-wal`` file.

        Returns True when the log was fully checkpointed and truncated, False when a reader or writer of
        another connection kept it busy (the next call tries again). Always True on PostgreSQL (nothing
        to do: its dead row versions are VACUUM's business).
        """
        if self.backend != "sqlite":
            return True
        async with self.engine.connect() as connection:
            row = (await connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))).one()
            await connection.commit()
        return int(row[0]) == 0

    async def close(self) -> None:
        await self.engine.dispose()


class WalCheckpointer(Periodic):
    """Every ``interval`` seconds, :meth:`Database.checkpoint` (SQLite only; 0 or PostgreSQL: never).

    Why a loop and not a checkpoint per ended task: a TRUNCATE checkpoint waits for readers and rewrites
    pages, too costly for the report path; a bounded delay is what README promises ("erased from the
    database file and its write-ahead log within ``RUNPLANE_WAL_CHECKPOINT_SECONDS``", as long as no
    reader holds the log open that long).
    """

    name = "runplane-wal-checkpoint"
    run_first = False

    def __init__(self, db: Database, interval: float) -> None:
        super().__init__(interval)
        self.db = db

    @property
    def enabled(self) -> bool:
        return self.interval > 0 and self.db.backend == "sqlite"

    async def run_once(self) -> None:
        if not await self.db.checkpoint():
            logger.info("WAL checkpoint incomplete (the log is in use); trying again")
