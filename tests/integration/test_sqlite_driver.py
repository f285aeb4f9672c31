"""runplane's aiosqlite adapter (`runplane.store.sqlite_driver`): a statement is one trip to aiosqlite's
thread, COMMIT and ROLLBACK go there only with a transaction open, and every result SQLAlchemy reads
(rows, description, row count, last row id, errors) is what sqlite3 itself gives."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import CursorResult, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from runplane.store import sqlite_driver
from runplane.store.database import Database

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

_SCHEMA = (
    "CREATE TABLE item (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, size INTEGER)",
    "INSERT INTO item (name, size) VALUES ('a', 1), ('b', 2), ('c', 3)",
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "driver.sqlite3"


@pytest.fixture
async def db(path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{path}")
    async with database.session() as session:
        for statement in _SCHEMA:
            await session.execute(text(statement))
    yield database
    await database.close()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every function this process hands to an aiosqlite connection's thread, in order."""
    handed: list[str] = []
    execute = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        handed.append(getattr(fn, "__name__", repr(fn)))
        return await execute(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return handed


async def test_the_engine_uses_the_adapter(db: Database) -> None:
    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.dbapi_connection, sqlite_driver.Connection)


async def test_a_write_session_is_one_trip_per_statement_and_one_commit(
    db: Database, trips: list[str]
) -> None:
    async with db.reader() as session:  # a pooled connection, so that connecting is not counted
        await session.execute(text("SELECT 1"))
    trips.clear()
    async with db.session() as session:
        await session.execute(text("INSERT INTO item (name) VALUES ('d')"))
        await session.execute(text("UPDATE item SET size = 4 WHERE name = 'd'"))
        await session.execute(text("DELETE FROM item WHERE name = 'a'"))
    assert trips == ["_run", "_run", "_run", "commit"]


async def test_a_read_is_one_trip_and_ending_it_none(db: Database, trips: list[str]) -> None:
    async with db.reader() as session:
        await session.execute(text("SELECT 1"))
    trips.clear()
    async with db.reader() as session:
        rows = (await session.execute(text("SELECT name FROM item ORDER BY id"))).scalars().all()
    async with db.session() as session:  # a write session that only read: nothing to commit
        await session.execute(text("SELECT count(*) FROM item"))
    assert rows == ["a", "b", "c"]
    assert trips == ["_run", "_run"]


async def _run(connection: AsyncConnection, sql: str, parameters: Any = None) -> CursorResult[Any]:
    return await connection.execute(text(sql), parameters)


async def _outcomes(engine: AsyncEngine) -> dict[str, Any]:
    """What SQLAlchemy reads back from a run of statements of every kind, through `engine`'s driver."""
    async with engine.begin() as connection:
        for statement in _SCHEMA:
            await connection.execute(text(statement))
        inserted = await _run(connection, "INSERT INTO item (name, size) VALUES ('d', 4)")
        updated = await _run(connection, "UPDATE item SET size = size * 10 WHERE size >= 2")
        returned = await _run(connection, "DELETE FROM item WHERE size > 25 RETURNING name, size")
        returned_rows = sorted(tuple(row) for row in returned.all())
        many = await _run(
            connection,
            "INSERT INTO item (name, size) VALUES (:name, :size)",
            [{"name": "e", "size": 5}, {"name": "f", "size": None}],
        )
        selected = await _run(connection, "SELECT id AS key, name, size FROM item ORDER BY id")
        empty = await _run(connection, "SELECT name FROM item WHERE 0")
        nothing = await _run(connection, "UPDATE item SET size = 0 WHERE 0")
        return {
            "lastrowid": inserted.lastrowid,
            "updated": updated.rowcount,
            "returned": (returned_rows, returned.rowcount),
            "many": many.rowcount,
            "selected": (list(selected.keys()), [tuple(row) for row in selected.all()]),
            "empty": (list(empty.keys()), empty.all()),
            "nothing": nothing.rowcount,
        }


async def test_results_are_what_sqlalchemys_own_adapter_gives(tmp_path: Path) -> None:
    ours = Database(f"sqlite+aiosqlite:///{tmp_path / 'ours.sqlite3'}")
    stock = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'stock.sqlite3'}")
    try:
        async with stock.connect() as connection:  # SQLAlchemy's adapter, not ours
            raw = await connection.get_raw_connection()
            assert not isinstance(raw.dbapi_connection, sqlite_driver.Connection)
        found, expected = await _outcomes(ours.engine), await _outcomes(stock)
    finally:
        await ours.close()
        await stock.dispose()
    assert found == expected
    assert found["lastrowid"] == 4
    assert found["updated"] == 3  # b, c and d
    assert found["returned"] == ([("c", 30), ("d", 40)], 2)
    assert found["many"] == 2 and found["nothing"] == 0
    assert found["selected"][0] == ["key", "name", "size"]
    assert found["selected"][1][-1] == (6, "f", None)


async def test_a_failed_statement_raises_the_drivers_error_and_rolls_back(
    db: Database, trips: list[str]
) -> None:
    async def duplicate() -> None:
        async with db.session() as session:
            await session.execute(text("INSERT INTO item (name) VALUES ('x')"))
            await session.execute(text("INSERT INTO item (name) VALUES ('a')"))  # UNIQUE

    with pytest.raises(IntegrityError) as failed:
        await duplicate()
    assert isinstance(failed.value.orig, sqlite3.IntegrityError)
    assert trips[-1] == "rollback"  # a transaction was open: the ROLLBACK went to the thread
    with pytest.raises(OperationalError, match="no such table"):
        async with db.reader() as session:
            await session.execute(text("SELECT * FROM missing"))
    async with db.reader() as session:  # the connections are still good, and 'x' is gone
        names = (await session.execute(text("SELECT name FROM item ORDER BY id"))).scalars().all()
    assert names == ["a", "b", "c"]


async def test_a_transaction_left_open_is_rolled_back_when_the_connection_is_given_back(db: Database) -> None:
    async with db.engine.connect() as connection:
        driver: Any = (await connection.get_raw_connection()).driver_connection
        await driver.execute("BEGIN IMMEDIATE")
        await driver.execute("INSERT INTO item (name) VALUES ('open')")
        assert driver.in_transaction
    assert not driver.in_transaction
    async with db.session() as session:  # the write lock is free again
        await session.execute(text("INSERT INTO item (name) VALUES ('next')"))
    async with db.reader() as session:
        names = (await session.execute(text("SELECT name FROM item WHERE id > 3"))).scalars().all()
    assert names == ["next"]


async def test_a_stream_still_reads_in_batches_from_the_thread(db: Database, trips: list[str]) -> None:
    async with db.session() as session:
        await session.execute(
            text("INSERT INTO item (name, size) VALUES (:name, :size)"),
            [{"name": f"n{index}", "size": index} for index in range(500)],
        )
    trips.clear()
    async with db.reader() as session:
        streamed = await session.stream(text("SELECT size FROM item WHERE name LIKE 'n%' ORDER BY size"))
        sizes = [size async for size in streamed.scalars()]
    assert sizes == list(range(500))
    # SQLAlchemy's server-side cursor: a trip per batch of rows, not the whole result in one.
    assert "_run" not in trips and trips.count("fetchmany") >= 2, trips


async def test_a_dbapi_cursor_keeps_its_last_row_id_across_executemany_as_sqlite3_does(
    db: Database, path: Path
) -> None:
    def plain_ids() -> tuple[int | None, int | None]:
        with contextlib.closing(sqlite3.connect(path)) as plain:
            cursor = plain.cursor()
            cursor.execute("INSERT INTO item (name) VALUES ('p1')")
            after_one = cursor.lastrowid
            cursor.executemany("INSERT INTO item (name) VALUES (?)", [("p2",), ("p3",)])
            return after_one, cursor.lastrowid

    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()

        def adapter_ids() -> tuple[int | None, int | None]:
            cursor = raw.dbapi_connection.cursor()  # type: ignore[union-attr]
            cursor.execute("INSERT INTO item (name) VALUES ('a1')")
            after_one = cursor.lastrowid
            cursor.executemany("INSERT INTO item (name) VALUES (?)", [("a2",), ("a3",)])
            return after_one, cursor.lastrowid

        ours = await connection.run_sync(lambda _: adapter_ids())
    # (Given back to the pool, the connection's open transaction is rolled back: ids 4-6 are free again.)
    theirs = plain_ids()
    assert ours[0] == ours[1] == 4
    assert theirs[0] == theirs[1] == 4  # the same rule, in plain sqlite3
