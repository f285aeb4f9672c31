"""Write sessions of one process on SQLite take turns (`Database.session`, ``serialize_writes``), and stay
what they were: atomic, rolled back on error, readers never waiting, a task's nested write session never
waiting for itself, a cancelled waiter leaving no turn held. The same tests run on PostgreSQL, where
there are no turns."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from runplane.store.database import Database
from tests.support.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

DEADLINE = 15.0  # beyond SQLite's busy_timeout (10 s): a test that waits this long has deadlocked


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.session() as session:
        await session.execute(text("CREATE TABLE bench_counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        await session.execute(
            text("CREATE TABLE bench_log (id INTEGER PRIMARY KEY, writer INTEGER NOT NULL)")
        )
        await session.execute(text("INSERT INTO bench_counter (id, n) VALUES (1, 0)"))
    yield database
    await database.close()


async def _count(db: Database, table: str) -> int:
    assert table in ("bench_log", "plain_log")
    async with db.reader() as session:
        return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())  # noqa: S608


async def _counter(db: Database) -> int:
    async with db.reader() as session:
        return int((await session.execute(text("SELECT n FROM bench_counter WHERE id = 1"))).scalar_one())


async def test_concurrent_write_sessions_all_commit_and_queue_on_sqlite(db: Database) -> None:
    writers = 12

    async def write(index: int) -> None:
        async with db.session() as session:
            await session.execute(text("UPDATE bench_counter SET n = n + 1 WHERE id = 1"))
            await asyncio.sleep(0.05)  # hold the write lock across loop turns, as request handlers do
            await session.execute(text("INSERT INTO bench_log (id, writer) VALUES (:i, :i)"), {"i": index})

    await asyncio.wait_for(asyncio.gather(*(write(i) for i in range(writers))), DEADLINE)

    assert await _counter(db) == writers
    assert await _count(db, "bench_log") == writers
    if db.backend == "sqlite":
        assert db.serialize_writes
        # Writers that found the turn taken waited on the loop rather than in SQLite. How many did depends
        # on how fast each reached its first write (on a loaded machine one may come after the holder
        # committed), so the count is bounded, not exact; the first never waits.
        assert 1 <= db.write_waits <= writers - 1
    else:
        assert not db.serialize_writes
        assert db.write_waits == 0


async def test_an_error_rolls_back_and_passes_the_turn_on(db: Database) -> None:
    async def failing() -> None:
        async with db.session() as session:
            await session.execute(text("UPDATE bench_counter SET n = 100 WHERE id = 1"))
            await session.execute(text("INSERT INTO bench_log (id, writer) VALUES (1, 1)"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await failing()

    async def write() -> None:
        async with db.session() as session:
            await session.execute(text("UPDATE bench_counter SET n = n + 1 WHERE id = 1"))

    await asyncio.wait_for(write(), DEADLINE)
    assert await _counter(db) == 1
    assert await _count(db, "bench_log") == 0


async def test_readers_and_reads_before_the_first_write_do_not_wait(db: Database) -> None:
    holding, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with db.session() as session:
            await session.execute(text("UPDATE bench_counter SET n = n + 1 WHERE id = 1"))
            holding.set()
            await release.wait()

    task = asyncio.create_task(holder())
    try:
        await asyncio.wait_for(holding.wait(), DEADLINE)
        # A reader, and a write session that has only read so far, run while the turn is held.
        assert await asyncio.wait_for(_counter(db), DEADLINE) == 0
        async with db.session() as session:
            seen = (await session.execute(text("SELECT n FROM bench_counter WHERE id = 1"))).scalar_one()
            assert seen == 0
        assert db.write_waits == 0
    finally:
        release.set()
        await asyncio.wait_for(task, DEADLINE)
    assert await _counter(db) == 1


async def test_a_nested_write_session_of_the_same_task_does_not_wait_for_itself(db: Database) -> None:
    async def nested() -> None:
        async with db.session() as outer:
            # The outer session holds the turn from here (it has read only, so SQLite's lock is free).
            await outer.execute(text("SELECT n FROM bench_counter WHERE id = 1"))
            async with db.session() as inner:
                await inner.execute(text("INSERT INTO bench_log (id, writer) VALUES (1, 1)"))
            # The inner one committed on its own; the outer one writes after it.
            await outer.execute(text("UPDATE bench_counter SET n = n + 1 WHERE id = 1"))
            async with db.session() as reading:
                await reading.execute(text("SELECT count(*) FROM bench_log"))

    await asyncio.wait_for(nested(), DEADLINE)
    assert await _counter(db) == 1
    assert await _count(db, "bench_log") == 1
    if db.backend == "sqlite":
        assert db.nested_writes == 2

    # The turn is free again: another task writes at once.
    async def write() -> None:
        async with db.session() as session:
            await session.execute(text("UPDATE bench_counter SET n = n + 1 WHERE id = 1"))

    await asyncio.wait_for(asyncio.create_task(write()), DEADLINE)
    assert await _counter(db) == 2


async def test_a_cancelled_waiter_leaves_no_turn_held(db: Database) -> None:
    holding, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with db.session() as session:
            await session.execute(text("UPDATE bench_counter SET n = n + 1 WHERE id = 1"))
            holding.set()
            await release.wait()

    async def waiter() -> None:
        async with db.session() as session:
            await session.execute(text("INSERT INTO bench_log (id, writer) VALUES (1, 1)"))

    held = asyncio.create_task(holder())
    await asyncio.wait_for(holding.wait(), DEADLINE)
    waiting = asyncio.create_task(waiter())
    if db.backend == "sqlite":
        # Wait until the waiter queues for the turn (on PostgreSQL it simply writes its own row).
        async def queued() -> None:
            # The lock's own queue: what is under test is that the waiter is in it when cancelled.
            while True:
                if db._turn().lock._waiters:
                    return
                await asyncio.sleep(0.005)

        await asyncio.wait_for(queued(), DEADLINE)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    else:
        await asyncio.wait_for(waiting, DEADLINE)
    release.set()
    await asyncio.wait_for(held, DEADLINE)

    async def write() -> None:
        async with db.session() as session:
            await session.execute(text("UPDATE bench_counter SET n = n + 1 WHERE id = 1"))

    await asyncio.wait_for(write(), DEADLINE)
    assert await _counter(db) == 2
    assert await _count(db, "bench_log") == (0 if db.backend == "sqlite" else 1)
    if db.backend == "sqlite":
        assert not db._turn().lock.locked()


async def test_checkpoint_takes_its_turn_between_writers(db: Database) -> None:
    async def write(index: int) -> None:
        async with db.session() as session:
            await session.execute(text("INSERT INTO bench_log (id, writer) VALUES (:i, :i)"), {"i": index})

    results = await asyncio.wait_for(
        asyncio.gather(write(1), db.checkpoint(), write(2), db.checkpoint()), DEADLINE
    )
    assert results[1] is True and results[3] is True
    assert await _count(db, "bench_log") == 2
    assert await asyncio.wait_for(db.checkpoint(), DEADLINE) is True


async def test_a_checkpoint_a_reader_blocks_gives_up_before_this_processs_writers_wait_long(
    db: Database,
) -> None:
    """TRUNCATE waits for readers of the log while it holds this process's write turn: it gives up after
    CHECKPOINT_BUSY_TIMEOUT_MS (the next pass tries again) instead of SQLite's busy_timeout (10 s), so a
    writer behind it never reaches its own turn timeout."""
    if db.backend != "sqlite":
        pytest.skip("a SQLite checkpoint; PostgreSQL has none")
    db.turn_timeout = 5.0  # below busy_timeout: a checkpoint waiting that long makes the writer give up
    async with db.session() as session:
        await session.execute(text("INSERT INTO bench_log (id, writer) VALUES (1, 1)"))
    path = make_url(db.url).database
    assert path is not None
    reader = sqlite3.connect(path)  # another connection holding a read snapshot of the log
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM bench_log").fetchone() == (1,)

        async def write() -> None:
            # After the checkpoint has taken the turn.
            async with asyncio.timeout(DEADLINE):
                await until(db._turn().lock.locked)
            async with db.session() as session:
                await session.execute(text("INSERT INTO bench_log (id, writer) VALUES (2, 2)"))

        done, _ = await asyncio.wait_for(asyncio.gather(db.checkpoint(), write()), DEADLINE)
        assert done is False  # the reader kept the log busy
    finally:
        reader.close()
    assert db.turn_timeouts == 0
    assert await _count(db, "bench_log") == 2
    assert await asyncio.wait_for(db.checkpoint(), DEADLINE) is True


async def test_a_checkpoint_waiting_for_a_connection_holds_no_turn(database_url: str) -> None:
    """The checkpoint takes a connection before the turn, as writers do: with every pooled connection
    held by writers waiting for the turn, a checkpoint that took the turn first would wait for a
    connection that none of them can give back."""
    database = Database(database_url)
    if database.backend != "sqlite":
        await database.close()
        pytest.skip("turns exist on SQLite only")
    database.turn_timeout = 5.0
    try:
        async with database.session() as session:
            await session.execute(text("CREATE TABLE plain_log (id INTEGER PRIMARY KEY)"))
        pool = database.engine.pool
        connections = pool.size() + pool._max_overflow  # type: ignore[attr-defined]
        gate = asyncio.Event()

        async def write(index: int) -> None:
            async with database.session() as session:
                await session.execute(text("SELECT 1"))  # holds a pooled connection, no turn yet
                await gate.wait()
                await session.execute(text("INSERT INTO plain_log (id) VALUES (:i)"), {"i": index})

        writers = [asyncio.create_task(write(n)) for n in range(connections)]
        async with asyncio.timeout(DEADLINE):
            await until(lambda: pool.checkedout() == connections)  # type: ignore[attr-defined]
        checkpoint = asyncio.create_task(database.checkpoint())
        await asyncio.sleep(0.05)  # the checkpoint asks for a connection (none is free), holding no turn
        gate.set()
        await asyncio.wait_for(asyncio.gather(*writers, checkpoint), DEADLINE)
        assert database.turn_timeouts == 0
        assert await _count(database, "plain_log") == connections
    finally:
        await database.close()


async def test_without_turns_writers_still_commit(database_url: str) -> None:
    """``serialize_writes=False`` (the bench's baseline): SQLite's busy handler alone keeps them apart."""
    database = Database(database_url, serialize_writes=False)
    try:
        async with database.session() as session:
            await session.execute(text("CREATE TABLE plain_log (id INTEGER PRIMARY KEY)"))

        async def write(index: int) -> None:
            async with database.session() as session:
                await session.execute(text("INSERT INTO plain_log (id) VALUES (:i)"), {"i": index})
                await asyncio.sleep(0.005)

        await asyncio.wait_for(asyncio.gather(*(write(i) for i in range(6))), DEADLINE)
        assert await _count(database, "plain_log") == 6
        assert database.write_waits == 0
    finally:
        await database.close()


async def test_a_writer_waits_no_longer_than_the_busy_timeout_for_its_turn(db: Database) -> None:
    """A turn held too long (a bug elsewhere) delays other writers by ``turn_timeout``, never forever."""
    if db.backend != "sqlite":
        pytest.skip("turns exist on SQLite only")
    db.turn_timeout = 0.2
    turn = db._turn()
    await turn.lock.acquire()  # a stuck holder that has not written (SQLite's own lock is free)
    try:

        async def write() -> None:
            async with db.session() as session:
                await session.execute(text("UPDATE bench_counter SET n = n + 1 WHERE id = 1"))
                await session.execute(text("INSERT INTO bench_log (id, writer) VALUES (1, 1)"))

        await asyncio.wait_for(write(), DEADLINE)
    finally:
        turn.lock.release()
    assert db.turn_timeouts == 1  # once per session, not once per statement
    assert await _counter(db) == 1
    assert not turn.lock.locked()


async def test_a_connection_given_back_with_a_transaction_open_is_rolled_back(db: Database) -> None:
    """A transaction left open at the driver level is rolled back when the connection goes back to the
    pool, and holds no lock (on SQLite the ROLLBACK skips the trip to the thread only when none is open,
    `runplane.store.sqlite_driver`)."""
    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        if db.backend == "sqlite":
            await driver.execute("BEGIN")
        # psycopg begins a transaction itself.
        await driver.execute("INSERT INTO bench_log (id, writer) VALUES (1, 1)")
    assert await _count(db, "bench_log") == 0
    async with db.session() as session:  # would wait out busy_timeout if the write lock were still held
        await asyncio.wait_for(
            session.execute(text("INSERT INTO bench_log (id, writer) VALUES (2, 2)")), DEADLINE
        )
    assert await _count(db, "bench_log") == 1
