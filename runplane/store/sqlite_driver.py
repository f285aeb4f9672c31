"""SQLAlchemy's aiosqlite adapter, with each statement one trip to the connection's thread.

aiosqlite runs every call of a sqlite3 connection on a thread of its own and hands the result back to the
event loop (a queue put, a thread wake-up, a ``call_soon_threadsafe``: 20-26 µs of CPU for a call that
does nothing). SQLAlchemy's adapter (``sqlalchemy.dialects.sqlite.aiosqlite``) makes such a call of each
DB-API step, each behind an ``await_`` (a greenlet switch to the loop and back): a statement is three
trips (make a cursor, execute, close it), a query four (fetch the rows too), and a session's end one more
(a ROLLBACK or COMMIT even when no transaction is open). Each step removed saved 60-100 µs of CPU
(`bench/api_profile.py --interleaved`, docs/benchmarks.md). Counted with ``Connection._execute`` patched
(as ``tests/integration/test_sqlite_driver.py`` does): ten trips for a ``POST /v1/tasks`` (three INSERTs
and a commit), five for a ``GET /v1/tasks/{id}`` (one SELECT).

Here the whole statement runs as one function on that thread, cursor to close, and its description, row
count, last row id and rows come back together; COMMIT and ROLLBACK go to the thread only when sqlite3
says a transaction is open (``in_transaction``: ``sqlite3_get_autocommit``, read on the loop). That read
is taken while the thread is idle: SQLAlchemy awaits each call before the next, and a call interrupted by
a cancellation (which may still be running on the thread) makes SQLAlchemy invalidate the connection,
whose close is queued behind that call; the connection is never committed or rolled back by this path
again. The same POST is four trips, the GET one. What the driver does on its thread is unchanged; only
the number of hand-overs is.

Server-side cursors (``stream``) keep SQLAlchemy's own, which fetch in batches as the rows are read.
It uses ``aiosqlite.Connection._execute`` (queue a function for the thread and await it), as
SQLAlchemy's own adapter uses aiosqlite's queue for its isolation level; aiosqlite is pinned in
pyproject.toml and the lock file, and ``tests/integration/test_sqlite_driver.py`` pins the behaviour
(against SQLAlchemy's own adapter too).

Used through `dbapi` (``create_async_engine(url, module=dbapi())``), see `runplane.store.database`.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any, cast

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT

# What one statement hands back from the thread: description, rows, rowcount, lastrowid.
_Outcome = tuple[Any, list[Any], int, int | None]


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """On aiosqlite's thread: one statement (``many``: an executemany) from cursor to close, with
    everything SQLAlchemy reads. An executemany returns no rows and no last row id: sqlite3 leaves the
    id unchanged after one (`Cursor._trip`)."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
            return cursor.description, [], cursor.rowcount, None
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        # After the rows: with RETURNING, sqlite3 counts a row as it is stepped.
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class Cursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement is one trip; it holds no sqlite3 cursor between statements."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        # No `super().__init__`: it makes the aiosqlite cursor up front, a trip of its own.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]  # DB-API: None before any INSERT

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._trip(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._trip(operation, seq_of_parameters, many=True)

    async def _trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            outcome = await self._connection._execute(
                _run, self._connection._conn, operation, parameters, many
            )
        self._description, rows, self._rowcount, lastrowid = outcome
        if not many:  # as on a sqlite3 cursor, executemany leaves the last row id as it was
            self._lastrowid = lastrowid
        self._rows = collections.deque(rows)

    def nextset(self) -> None:
        return None  # sqlite3 has one result set per statement


class Connection(AsyncAdapt_aiosqlite_connection):
    """aiosqlite's adapted connection with `Cursor`, whose COMMIT and ROLLBACK skip the trip when no
    transaction is open (sqlite3 would do nothing on its thread then)."""

    __slots__ = ()

    _cursor_cls = Cursor

    def _open(self) -> bool:
        driver = cast(aiosqlite.Connection, self._connection)
        return driver._connection is not None and driver.in_transaction

    def rollback(self) -> None:
        if self._open():
            super().rollback()

    def commit(self) -> None:
        if self._open():
            super().commit()


class _DBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> Connection:
        adapted = super().connect(*arg, **kw)
        return Connection(self, adapted._connection)


def dbapi() -> Any:
    """The DB-API module for ``create_async_engine(..., module=dbapi())`` on a ``sqlite+aiosqlite`` URL."""
    return _DBAPI(aiosqlite, sqlite3)
