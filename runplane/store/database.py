"""The async database handle: engine, sessions, SQLite tuning and migrations to head."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
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
from sqlalchemy.util.concurrency import await_

from runplane.periodic import Periodic
from runplane.store import sqlite_driver

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# An open write transaction, as code above the store sees it: a handle that the store gives to a hook it
# calls inside its transaction (the run record of a task's end, `runplane.results`), to be handed back to
# store functions that then write in that transaction. Nothing above the store runs SQL on it.
Transaction = AsyncSession


# How long a SQLite writer waits for another connection's write lock before it fails ("database is locked").
BUSY_TIMEOUT_MS = 10_000
# A checkpoint's wait for readers (its busy_timeout), and how often a pass of WalCheckpointer tries.
CHECKPOINT_BUSY_TIMEOUT_MS = 200
CHECKPOINT_TRIES = 5
CHECKPOINT_RETRY_SECONDS = 1.0


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; busy_timeout makes concurrent writers from several
    # server processes wait for the lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
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


_READ_ONLY_STARTS = ("SELECT", "PRAGMA", "EXPLAIN")


class _WriteTurn:
    """One event loop's queue of this process's SQLite write transactions (see `Database.session`)."""

    __slots__ = ("lock",)

    def __init__(self) -> None:
        self.lock = asyncio.Lock()


class _OpenWrite:
    """A task's open write session: whether it holds its loop's turn (taken at its first write statement)."""

    __slots__ = ("held", "skipped", "turn")

    def __init__(self) -> None:
        self.turn: _WriteTurn | None = None
        self.held = False
        self.skipped = False  # waited `turn_timeout` in vain: the rest of the session runs without a turn


class Database:
    """The engine and its units of work.

    ``serialize_writes`` (SQLite only; ignored on PostgreSQL, whose writers lock rows, not the database):
    this process's write transactions take turns on an asyncio lock instead of meeting in SQLite's busy
    handler, see `session`.
    """

    def __init__(self, url: str, *, pool_size: int = 10, serialize_writes: bool = True) -> None:
        self.url = url
        options: dict[str, Any] = {}
        if url.startswith("postgresql"):
            options.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        elif make_url(url).drivername == "sqlite+aiosqlite":
            options.update(module=sqlite_driver.dbapi())  # a statement is one trip to aiosqlite's thread
        self.engine: AsyncEngine = create_async_engine(url, **options)
        self.backend = self.engine.dialect.name
        if self.backend == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _tune_sqlite)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.serialize_writes = serialize_writes and self.backend == "sqlite"
        # One turn per event loop: an asyncio.Lock belongs to the loop that first waits on it, and tests
        # (and the CLI) may use one Database from several loops in turn.
        self._turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _WriteTurn] = (
            weakref.WeakKeyDictionary()
        )
        # The open write session of each task (one per task: a nested one shares its outer one's entry).
        self._open: dict[asyncio.Task[Any], _OpenWrite] = {}
        #: Write transactions that found another one of this process writing and queued for their turn,
        #: and the seconds they spent queued (diagnostics, the bench and tests).
        self.write_waits = 0
        self.write_wait_seconds = 0.0
        #: Write sessions opened by a task inside its own write session (they share the outer one's turn).
        self.nested_writes = 0
        #: Seconds a write transaction waits for its turn before it goes on without one (SQLite's own
        #: ``busy_timeout``), and how often that happened.
        self.turn_timeout = BUSY_TIMEOUT_MS / 1000
        self.turn_timeouts = 0
        if self.serialize_writes:
            event.listen(self.engine.sync_engine, "before_cursor_execute", self._before_statement)

    def _turn(self) -> _WriteTurn:
        loop = asyncio.get_running_loop()
        turn = self._turns.get(loop)
        if turn is None:
            turn = self._turns[loop] = _WriteTurn()
        return turn

    async def _take_turn(self, open_write: _OpenWrite) -> None:
        turn = self._turn()
        contended = turn.lock.locked()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.turn_timeout):
                await turn.lock.acquire()
        except TimeoutError:
            # Never wait on the loop longer than SQLite itself would have (busy_timeout): go on without
            # the turn and let SQLite's lock decide, as before turns existed. A holder that keeps its
            # transaction open this long is a bug to see in the log, not a reason to hang.
            open_write.skipped = True
            self.turn_timeouts += 1
            logger.warning(
                "a write transaction waited %.0f s for this process's SQLite write turn; going on without it",
                self.turn_timeout,
            )
            return
        finally:
            if contended:
                self.write_waits += 1
                self.write_wait_seconds += time.perf_counter() - started
        # Set here, in the coroutine that acquired, so that a cancellation can never leave the lock held
        # by nobody: `session` releases exactly when `held` is set.
        open_write.turn, open_write.held = turn, True

    def _before_statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        """Before a statement of a write session that may write: wait for this process's turn.

        Runs inside SQLAlchemy's greenlet (the statement's own ``await``), so it can wait on the loop
        with ``await_``, as the dialect does for each driver call. The turn is taken where SQLite takes
        its write lock: the pysqlite driver begins a transaction just before the first INSERT, UPDATE,
        DELETE or REPLACE, and the SELECTs before it run outside any transaction, side by side.
        """
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop: a sync use of the engine, nothing to take turns with
            return
        open_write = self._open.get(task) if task is not None else None
        if open_write is None or open_write.held or open_write.skipped:
            return
        if statement.lstrip().upper().startswith(_READ_ONLY_STARTS):
            return
        await_(self._take_turn(open_write))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed when the block ends normally, rolled back otherwise.

        On SQLite (``serialize_writes``), the first statement of the block that may write waits for this
        process's write turn, held until the commit or rollback has finished. Why: SQLite has one writer.
        Without turns, two write transactions of this process meet in SQLite's busy handler, which sleeps
        1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms... between tries instead of being woken when the
        lock frees, and the lock is held across several event loop round trips (aiosqlite runs each
        driver call on its connection's thread); on the asyncio lock the next writer is woken as soon as
        the holder has committed. The turn is a scheduling aid only: SQLite's own locking still keeps
        transactions apart, and other processes (``serve --workers 2``) still meet this one in the busy
        handler (``busy_timeout``). Readers never wait for a turn (WAL), nor do the reads of a write
        session before its first write.

        A write session opened by a task inside its own write session shares the outer one's turn (the
        task never waits for itself); it still commits on its own, as before.
        """
        if not self.serialize_writes:
            async with self._sessions() as session, session.begin():
                yield session
            return
        task = asyncio.current_task()
        assert task is not None, "Database.session() runs inside an asyncio task"
        outer = task in self._open
        if outer:
            self.nested_writes += 1
        else:
            self._open[task] = _OpenWrite()
        try:
            async with self._sessions() as session:
                try:
                    async with session.begin():
                        yield session
                finally:
                    # After the commit or rollback, before the connection goes back to the pool.
                    if not outer:
                        open_write = self._open.pop(task)
                        if open_write.held and open_write.turn is not None:
                            open_write.turn.lock.release()
        finally:
            if not outer:
                self._open.pop(task, None)

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
        # The checkpoint takes SQLite's write lock: with the turn held, this process's writers queue on the
        # loop behind it instead of sleeping in the busy handler. The connection comes first, the turn
        # second, as for every writer: a checkpoint holding the turn while it waited for a connection of
        # a pool that this process's writers held (each waiting for the turn) stalled them all until the
        # turn's timeout (10 s).
        async with self.engine.connect() as connection:
            turn = self._turn() if self.serialize_writes else None
            if turn is not None:
                try:
                    async with asyncio.timeout(self.turn_timeout):
                        await turn.lock.acquire()
                except TimeoutError:  # as a writer would (see _take_turn): go on, SQLite's lock decides
                    turn = None
            try:
                # TRUNCATE waits for readers in the busy handler, and this process's writers wait behind
                # the turn meanwhile: give up soon (the next pass tries again) rather than hold them.
                await connection.exec_driver_sql(f"PRAGMA busy_timeout={CHECKPOINT_BUSY_TIMEOUT_MS}")
                try:
                    row = (await connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))).one()
                    await connection.commit()
                finally:
                    await connection.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            finally:
                if turn is not None:
                    turn.lock.release()
        return int(row[0]) == 0

    async def close(self) -> None:
        await self.engine.dispose()


class WalCheckpointer(Periodic):
    """Every ``interval`` seconds, :meth:`Database.checkpoint` (SQLite only; 0 or PostgreSQL: never).

    Why a loop and not a checkpoint per ended task: a TRUNCATE checkpoint waits for readers and rewrites
    pages, too costly for the report path; a bounded delay is what README promises ("erased from the
    database file and its write-ahead log within ``RUNPLANE_WAL_CHECKPOINT_SECONDS``", as long as no
    reader holds the log open that long). A pass tries up to `CHECKPOINT_TRIES` times a second apart,
    each try waiting at most `CHECKPOINT_BUSY_TIMEOUT_MS` for readers, so it never holds this process's
    writers longer than that.
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
        # Each try gives up after CHECKPOINT_BUSY_TIMEOUT_MS rather than hold this process's writers (see
        # `Database.checkpoint`); a few tries a second apart keep the erasure within the interval while
        # readers come and go.
        for attempt in range(CHECKPOINT_TRIES):
            if attempt:
                await asyncio.sleep(CHECKPOINT_RETRY_SECONDS)
            if await self.db.checkpoint():
                return
        logger.info("WAL checkpoint incomplete (the log is in use); trying again next pass")
