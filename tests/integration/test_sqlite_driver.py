"""runplane's aiosqlite adapter (`runplane.store.sqlite_driver`): a statement is one trip to aiosqlite's
thread, COMMIT and ROLLBACK go there only with a transaction open, and every result SQLAlchemy reads
(rows, description, row count, last row id, errors) is what sqlite3 itself gives."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import aiosqlite
import pytest
from sqlalchemy import CursorResult, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

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


async def _run(session: AsyncSession, sql: str, parameters: Any = None) -> CursorResult[Any]:
    return cast(CursorResult[Any], await session.execute(text(sql), parameters))


async def test_results_are_what_sqlite3_gives(db: Database, path: Path) -> None:
    async with db.session() as session:
        inserted = await _run(session, "INSERT INTO item (name, size) VALUES ('d', 4)")
        updated = await _run(session, "UPDATE item SET size = size * 10 WHERE size >= 2")
        returned = await _run(session, "DELETE FROM item WHERE size > 25 RETURNING name, size")
        returned_rows = sorted(returned.all())
        many = await _run(
            session,
            "INSERT INTO item (name, size) VALUES (:name, :size)",
            [{"name": "e", "size": 5}, {"name": "f", "size": None}],
        )
        selected = await session.execute(text("SELECT id AS key, name FROM item ORDER BY id"))
        assert list(selected.keys()) == ["key", "name"]
        selected_rows = selected.all()
        empty = await session.execute(text("SELECT name FROM item WHERE 0"))
        assert list(empty.keys()) == ["name"] and empty.all() == []

    assert inserted.lastrowid == 4
    assert updated.rowcount == 3  # b, c and d
    assert returned_rows == [("c", 30), ("d", 40)]
    assert returned.rowcount == 2
    assert many.rowcount == 2
    with sqlite3.connect(path) as plain:
        assert selected_rows == plain.execute("SELECT id, name FROM item ORDER BY id").fetchall()
        assert plain.execute("SELECT size FROM item WHERE name = 'f'").fetchone() == (None,)


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


async def test_a_stream_still_reads_in_batches_from_the_thread(db: Database) -> None:
    async with db.session() as session:
        await session.execute(
            text("INSERT INTO item (name, size) VALUES (:name, :size)"),
            [{"name": f"n{index}", "size": index} for index in range(500)],
        )
    async with db.reader() as session:
        streamed = await session.stream(text("SELECT size FROM item WHERE name LIKE 'n%' ORDER BY size"))
        sizes = [size async for size in streamed.scalars()]
    assert sizes == list(range(500))


async def test_a_dbapi_cursor_keeps_its_last_row_id_across_executemany_as_sqlite3_does(
    db: Database, path: Path
) -> None:
    def plain_ids() -> tuple[int | None, int | None]:
        with sqlite3.connect(path) as plain:
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
        await connection.rollback()
    theirs = plain_ids()
    assert ours[0] == ours[1] == 4
    assert theirs[0] == theirs[1] == 4  # the same rule, in plain sqlite3
