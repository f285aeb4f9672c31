"""Request budgets per bucket (an API key, a client address) that hold across every server process.

The counting is the ``limits`` library's: its limit notation and items, its storages' atomic
increments, and the rule of its ``FixedWindowRateLimiter`` (a hit is allowed when the incremented count
is at most the limit). What runplane adds is where the counters live, so that several gunicorn workers
share them:

* ``redis://`` (several hosts): ``limits``' own async Redis storage, through the ``redis`` client (its
  increment is one Lua script, so a counter can never be left without an expiry and lock a key out for
  good; the default ``coredis`` bridge does INCRBY and EXPIRE as two calls).
* no Redis (the embedded default: one host, several worker processes): :class:`SQLiteStorage`, a
  ``limits`` storage backed by one SQLite file next to the database.

The fixed window is used on both, so a budget means the same thing whichever storage holds it: a window
opens at a bucket's first hit and lasts the limit's period; up to ``limit`` hits are allowed in it. (A
client can spend up to twice its budget across a window boundary; for abuse protection that is fine, and
it keeps each hit a single atomic increment on both storages.)

A key's budget is spent through :meth:`RateLimiter.spend`, which costs no storage write per request: each
process reserves units of a bucket's budget from the shared counter in batches (one atomic increment by
the batch size) and hands them out locally until they run out or the window ends. The shared counter
therefore always counts every unit any process may hand out, so a budget is never exceeded across
processes; what batching costs is that units one process has reserved and not yet used are not available
to another, so a client spread over P processes can be refused up to (P - 1) x a batch before its limit
(a batch is at most ``max_batch`` units and at most 1/``batch_divisor`` of what was left of the budget,
so small budgets and a budget's last units are reserved one at a time, exactly as :meth:`RateLimiter.hit`
does). The remaining count a spend reports is this process's view, as of its last reservation.

Errors of either storage reach the caller as :class:`limits.errors.StorageError`, so a caller can decide
in one place whether an unavailable storage fails open or closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, unquote, urlsplit

import redis.asyncio
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage, Storage
from limits.errors import ConfigurationError

__all__ = [
    "SQLITE_SCHEME",
    "RateLimitResult",
    "RateLimiter",
    "SQLiteStorage",
    "storage_uri_for",
]

SQLITE_SCHEME = "runplane+sqlite"
SQLITE_FILE_NAME = "ratelimit.sqlite3"
DEFAULT_KEY_PREFIX = "runplane:ratelimit"

T = TypeVar("T")


@dataclass(slots=True)
class _Lease:
    """Budget units of one bucket this process has reserved from the shared counter and not spent yet."""

    units: int
    #: The shared counter right after the reservation (it includes ``units``).
    count: int
    #: When the reservation's window ends (wall clock); unspent units are void from then on.
    expires_at: float


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    """The state of one bucket after a hit (or at a peek)."""

    allowed: bool
    limit: int
    remaining: int
    #: Seconds until the bucket's window ends and its budget is whole again (0 when no window is open).
    reset_after: float
    #: What to send as ``Retry-After``: whole seconds, at least 1 when refused, 0 when allowed.
    retry_after: int


def storage_uri_for(redis_url: str | None, data_dir: Path) -> str:
    """The storage URI for the rate limiter: Redis when configured, else a SQLite file in ``data_dir``."""
    if redis_url:
        if redis_url.startswith("async+"):
            return redis_url
        scheme, separator, rest = redis_url.partition("://")
        if not separator or scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"not a Redis URL (redis://, rediss:// or unix://): {scheme}://…")
        # limits spells a Redis socket URL async+redis+unix://, not unix://.
        return f"async+{'redis+unix' if scheme == 'unix' else scheme}://{rest}"
    path = (data_dir.expanduser().resolve() / SQLITE_FILE_NAME).as_posix()
    return f"{SQLITE_SCHEME}://{quote(path)}"


def _redis_client_url(storage_uri: str) -> str:
    # The inverse of what RedisStorage does to the URI before it hands it to the client.
    return storage_uri.removeprefix("async+").replace("redis+unix://", "unix://", 1)


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rate_limit_counters ("
    " key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at REAL NOT NULL) WITHOUT ROWID"
)
# Parameters: 1 key, 2 amount, 3 now, 4 expiry in seconds. In DO UPDATE the right-hand sides see the row
# as it was, so both CASEs test the old expiry: an expired window restarts at `amount`.
_INCREMENT = (
    "INSERT INTO rate_limit_counters (key, count, expires_at) VALUES (?1, ?2, ?3 + ?4)"
    " ON CONFLICT (key) DO UPDATE SET"
    " count = CASE WHEN expires_at <= ?3 THEN ?2 ELSE count + ?2 END,"
    " expires_at = CASE WHEN expires_at <= ?3 THEN ?3 + ?4 ELSE expires_at END"
    " RETURNING count"
)
_GET_COUNT = "SELECT count FROM rate_limit_counters WHERE key = ? AND expires_at > ?"
_GET_EXPIRY = "SELECT expires_at FROM rate_limit_counters WHERE key = ? AND expires_at > ?"
_CLEAR = "DELETE FROM rate_limit_counters WHERE key = ?"
_CLEAR_ALL = "DELETE FROM rate_limit_counters"
_PURGE = "DELETE FROM rate_limit_counters WHERE expires_at <= ?"
# How many buckets' reservations a process keeps (expired ones are dropped first when full).
_MAX_LEASES = 10_000
_LEASE_MARGIN_SECONDS = 1.0
# Retries of a locked statement that only yield to the event loop before waiting starts.
_BUSY_SPINS = 3


class SQLiteStorage(Storage):
    """A ``limits`` storage in one SQLite file, shared by every process on the host.

    URI: ``runplane+sqlite:///absolute/path/ratelimit.sqlite3`` (the path percent-encoded).

    Each increment is one ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` statement, so it is atomic
    across processes: two processes can never both take the last unit of a budget. The file is in WAL
    mode (readers never wait for the writer) with ``synchronous=OFF``: losing the last counters in a
    power cut is harmless, and not waiting for the disk keeps an increment at about ten microseconds.

    Statements run inline on the event loop rather than in a thread: a thread hop costs ~100 µs (ten
    times the statement) on every request. What could make inline calls block the loop is waiting for
    another process's write lock, so the connection has no busy timeout at all: a locked database fails
    at once, and the call yields to the event loop and retries (``asyncio.sleep``) until
    ``busy_timeout`` seconds have passed. Locks are held for microseconds, so the retry is rare and short.

    The connection is opened on first use in the process that uses it; a process forked after that
    (gunicorn ``--preload``) opens its own instead of sharing the parent's, which SQLite forbids.
    Expired rows are deleted at most once every ``purge_interval`` seconds, by whichever process
    increments next.
    """

    # limits declares this as an instance attribute, so it cannot be annotated ClassVar here; its
    # metaclass reads it once, when the class is created, to register the scheme.
    STORAGE_SCHEME = [SQLITE_SCHEME]  # noqa: RUF012

    def __init__(
        self,
        uri: str,
        wrap_exceptions: bool = False,
        busy_timeout: float = 5.0,
        purge_interval: float = 60.0,
        **options: float | str | bool,
    ) -> None:
        parts = urlsplit(uri)
        if parts.scheme != SQLITE_SCHEME or not parts.path or parts.netloc:
            raise ConfigurationError(f"expected {SQLITE_SCHEME}:///absolute/path, got {uri!r}")
        self.path = Path(unquote(parts.path))
        if not self.path.is_absolute():
            raise ConfigurationError(f"the SQLite rate-limit file must be an absolute path: {self.path}")
        self.busy_timeout = busy_timeout
        self.purge_interval = purge_interval
        self._connection: sqlite3.Connection | None = None
        self._connection_pid = 0
        self._inherited: list[sqlite3.Connection] = []
        self._next_purge = 0.0
        #: How often a statement found the database locked and had to retry (for tests and diagnostics).
        self.busy_retries = 0
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sqlite3.Error

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None and self._connection_pid == os.getpid():
            return self._connection
        if self._connection is not None:
            # Inherited across a fork. It is kept, never used and never closed: closing a descriptor of
            # the file would drop this process's POSIX locks on it, those of its new connection included.
            self._inherited.append(self._connection)
            self._connection = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=OFF")
            connection.execute(_SCHEMA)
        except BaseException:
            connection.close()
            raise
        self._connection, self._connection_pid = connection, os.getpid()
        return connection

    async def _run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        deadline: float | None = None
        attempt = 0
        while True:
            try:
                return operation(self._connect())
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.busy_timeout
                elif now >= deadline:
                    raise
            attempt += 1
            self.busy_retries += 1
            # The lock is held for microseconds: the first retries only yield to the event loop (the other
            # process is usually done by then); a holder that is not done soon (descheduled on a busy host,
            # checkpointing the WAL) gets an exponentially longer wait, up to 50 ms.
            await asyncio.sleep(
                0 if attempt <= _BUSY_SPINS else min(0.0002 * 2 ** (attempt - _BUSY_SPINS), 0.05)
            )

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()

        def increment(connection: sqlite3.Connection) -> int:
            row = connection.execute(_INCREMENT, (key, amount, now, expiry)).fetchone()
            return int(row[0])

        count = await self._run(increment)
        if now >= self._next_purge:
            self._next_purge = now + self.purge_interval
            await self._purge(now)
        return count

    async def _purge(self, now: float) -> None:
        # Another process holding the lock for busy_timeout is no reason to fail a request; the next purge
        # will catch up.
        with contextlib.suppress(sqlite3.OperationalError):
            await self._run(lambda connection: connection.execute(_PURGE, (now,)))

    async def get(self, key: str) -> int:
        row = await self._run(
            lambda connection: connection.execute(_GET_COUNT, (key, time.time())).fetchone()
        )
        return int(row[0]) if row else 0

    async def get_expiry(self, key: str) -> float:
        now = time.time()
        row = await self._run(lambda connection: connection.execute(_GET_EXPIRY, (key, now)).fetchone())
        # Like limits' own storages: a bucket without an open window "resets" now.
        return float(row[0]) if row else now

    async def check(self) -> bool:
        try:
            await self._run(lambda connection: connection.execute("SELECT 1").fetchone())
        except sqlite3.Error:
            return False
        return True

    async def reset(self) -> int | None:
        cursor = await self._run(lambda connection: connection.execute(_CLEAR_ALL))
        return cursor.rowcount

    async def clear(self, key: str) -> None:
        await self._run(lambda connection: connection.execute(_CLEAR, (key,)))

    def close(self) -> None:
        if self._connection is not None and self._connection_pid == os.getpid():
            self._connection.close()
        self._connection = None


class SharedCounter:
    """A counter every server process sees, kept in the rate limiter's storage (Redis or the SQLite file).

    Used as an epoch: a process that caches something derived from the database compares the counter
    with the value it read before caching, and another process bumps it when that something changes
    (``runplane.store.keys`` and key revocation). Reading it is one inline SQLite statement or one Redis
    GET, far cheaper than the database query it saves. The counter lives ``ttl_seconds`` after its last
    bump and then reads 0 again, which only ever looks like a change to a process that cached at another
    value.
    """

    def __init__(self, limiter: RateLimiter, name: str, *, ttl_seconds: int = 30 * 24 * 3600) -> None:
        self.limiter = limiter
        self.key = f"epoch:{name}"
        self.ttl_seconds = ttl_seconds

    async def read(self) -> int:
        """The counter's value; raises :class:`limits.errors.StorageError` when the storage is down."""
        return await self.limiter.storage.get(self.key)

    async def bump(self) -> int:
        """Add one; the new value."""
        return await self.limiter.storage.incr(self.key, self.ttl_seconds, 1)


class RateLimiter:
    """Fixed-window budgets per bucket, in storage shared by every server process.

    ``storage_uri`` comes from :func:`storage_uri_for`; ``default_limit`` is ``limits`` notation
    (``600/minute``, ``10 per second``) and applies when a call names no limit of its own. The same bucket
    with different limits counts separately. ``key_prefix`` namespaces the Redis keys, so several
    deployments (or tests) can share one Redis and :meth:`reset` clears only its own (a SQLite file
    belongs to one data directory and needs no prefix).

    Construction opens nothing: it is safe before a fork and outside an event loop. A Redis-backed
    limiter belongs to the event loop that first uses it; call :meth:`close` on that loop.
    """

    def __init__(
        self,
        storage_uri: str,
        default_limit: str,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        max_batch: int = 64,
        batch_divisor: int = 16,
    ) -> None:
        if max_batch < 1 or batch_divisor < 1:
            raise ValueError("max_batch and batch_divisor must be at least 1")
        self.max_batch = max_batch
        self.batch_divisor = batch_divisor
        self._leases: dict[str, _Lease] = {}
        self._reserving: dict[str, asyncio.Future[None]] = {}
        self._leases_pid = os.getpid()
        self._redis_pool: redis.asyncio.ConnectionPool | None = None
        self.storage: Storage
        if storage_uri.startswith(f"{SQLITE_SCHEME}:"):
            self.storage = SQLiteStorage(storage_uri, wrap_exceptions=True)
        elif storage_uri.startswith(("async+redis:", "async+rediss:", "async+redis+unix:")):
            # The limiter owns the pool so close() can release its sockets; limits has no close of its own.
            # Every request waits on this storage, so an unreachable Redis must fail in seconds, not after
            # the OS's connect timeout; options in the URL's query string take precedence.
            self._redis_pool = redis.asyncio.ConnectionPool.from_url(
                _redis_client_url(storage_uri), socket_connect_timeout=2.0, socket_timeout=2.0
            )
            self.storage = RedisStorage(
                storage_uri,
                wrap_exceptions=True,
                implementation="redispy",
                key_prefix=key_prefix,
                connection_pool=self._redis_pool,  # type: ignore[arg-type]  # limits types options as scalars
            )
        else:
            raise ConfigurationError(f"unsupported rate-limit storage: {storage_uri.partition(':')[0]}")
        self._items: dict[str, RateLimitItem] = {}
        self.default_limit = self._item(default_limit)

    def _item(self, limit: str) -> RateLimitItem:
        item = self._items.get(limit)
        if item is None:
            items = parse_many(limit)
            if len(items) != 1:
                raise ValueError(f"expected exactly one limit, got {limit!r}")
            item = self._items[limit] = items[0]
        return item

    async def hit(self, bucket: str, limit: str | None = None) -> RateLimitResult:
        """Spend one unit of ``bucket``'s budget; ``allowed`` says whether it was there to spend."""
        item = self._item(limit) if limit else self.default_limit
        key = item.key_for(bucket)
        # FixedWindowRateLimiter.hit is exactly `storage.incr(key, expiry) <= amount`, but it drops the
        # count, and its get_window_stats would read it back (one more round trip, and racing other
        # processes). Keeping the count the atomic increment returned makes `remaining` exact for this hit.
        count = await self.storage.incr(key, item.get_expiry())
        reset_time = await self.storage.get_expiry(key)
        return self._result(
            item, allowed=count <= item.amount, remaining=item.amount - count, reset_time=reset_time
        )

    async def spend(self, bucket: str, limit: str | None = None) -> RateLimitResult:
        """Spend one unit of ``bucket``'s budget from this process's reservation, reserving a batch when empty.

        Never allows more than the limit across every process sharing the storage; see the module's
        docstring for what batching trades (a client may be refused slightly before its limit). Most calls
        touch no storage at all. Concurrent calls for one bucket wait for a reservation in flight rather
        than each reserve their own.
        """
        item = self._item(limit) if limit else self.default_limit
        key = item.key_for(bucket)
        if self._leases_pid != os.getpid():
            # Forked: the parent's reservations are the parent's to spend.
            self._leases, self._reserving, self._leases_pid = {}, {}, os.getpid()
        while True:
            now = time.time()
            lease = self._leases.get(key)
            if lease is not None and lease.expires_at <= now:
                lease = None
            if lease is not None and lease.units > 0:
                lease.units -= 1
                return self._result(
                    item,
                    allowed=True,
                    remaining=item.amount - lease.count + lease.units,
                    reset_time=lease.expires_at + _LEASE_MARGIN_SECONDS,
                )
            in_flight = self._reserving.get(key)
            if in_flight is None:
                break
            # Another call is reserving for this bucket: use what it brings (or reserve after it).
            await asyncio.shield(in_flight)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reserving[key] = done
        try:
            return await self._reserve(item, key, lease, now)
        finally:
            del self._reserving[key]
            done.set_result(None)

    async def _reserve(
        self, item: RateLimitItem, key: str, lease: _Lease | None, now: float
    ) -> RateLimitResult:
        left = item.amount - (lease.count if lease is not None else 0)
        batch = max(1, min(self.max_batch, left // self.batch_divisor))
        count = await self.storage.incr(key, item.get_expiry(), batch)
        reset_time = await self.storage.get_expiry(key)
        # This reservation holds the counter's values count - batch + 1 .. count; those up to the limit
        # are ours to allow, and one of them is spent by this call.
        granted = max(0, min(batch, item.amount - (count - batch)))
        if len(self._leases) >= _MAX_LEASES:
            self._leases = {k: v for k, v in self._leases.items() if v.expires_at > now}
            if len(self._leases) >= _MAX_LEASES:
                self._leases.clear()
        # Redis reports the window's end in whole seconds: stop spending a little early rather than spend
        # a unit of an ended window in the next one.
        self._leases[key] = _Lease(
            units=max(0, granted - 1), count=count, expires_at=reset_time - _LEASE_MARGIN_SECONDS
        )
        return self._result(
            item,
            allowed=granted > 0,
            remaining=item.amount - count + max(0, granted - 1),
            reset_time=reset_time,
        )

    async def peek(self, bucket: str, limit: str | None = None) -> RateLimitResult:
        """The budget as it stands, spending nothing: ``allowed`` says whether a hit now would pass."""
        item = self._item(limit) if limit else self.default_limit
        key = item.key_for(bucket)
        count = await self.storage.get(key)
        # No open window (the usual case for a failed-attempt budget, peeked at on every request) means
        # nothing to reset: one read instead of two.
        reset_time = await self.storage.get_expiry(key) if count else time.time()
        remaining = item.amount - count
        return self._result(item, allowed=remaining > 0, remaining=remaining, reset_time=reset_time)

    @staticmethod
    def _result(item: RateLimitItem, *, allowed: bool, remaining: int, reset_time: float) -> RateLimitResult:
        reset_after = max(0.0, reset_time - time.time())
        # Redis reports whole seconds and a window can end between the hit and the read: a refusal still
        # always asks for at least a second.
        retry_after = 0 if allowed else max(1, math.ceil(reset_after))
        return RateLimitResult(
            allowed=allowed,
            limit=item.amount,
            remaining=max(0, remaining),
            reset_after=reset_after,
            retry_after=retry_after,
        )

    async def reset(self) -> None:
        """Forget every bucket (of this key prefix, on Redis), and this process's reservations."""
        self._leases.clear()
        await self.storage.reset()

    async def check(self) -> bool:
        """Whether the storage answers (for health checks)."""
        return await self.storage.check()

    async def close(self) -> None:
        """Release the storage's connections. The limiter reconnects if used again."""
        if isinstance(self.storage, SQLiteStorage):
            self.storage.close()
        if self._redis_pool is not None:
            await self._redis_pool.aclose()
