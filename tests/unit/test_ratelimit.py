from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import anyio
import pytest
import redis
from limits.errors import ConfigurationError, StorageError

from runplane.ratelimit import (
    SQLITE_FILE_NAME,
    RateLimiter,
    RateLimitResult,
    SQLiteStorage,
    storage_uri_for,
)

REDIS_URL = os.environ.get("RUNPLANE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_SERVICES = os.environ.get("RUNPLANE_REQUIRE_SERVICES") == "1"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _redis_unavailable() -> str | None:
    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1) as client:
            client.ping()
    except redis.RedisError as exc:
        return f"Redis not reachable at {REDIS_URL}: {exc}"
    return None


def _require_redis() -> None:
    problem = _redis_unavailable()
    if problem:
        if REQUIRE_SERVICES:
            pytest.fail(problem)
        pytest.skip(problem)


@pytest.fixture(params=["sqlite", "redis"])
def storage_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "redis":
        _require_redis()
        return storage_uri_for(REDIS_URL, tmp_path)
    return storage_uri_for(None, tmp_path)


@pytest.fixture
async def limiter(storage_uri: str) -> AsyncIterator[RateLimiter]:
    # A prefix of its own per test: tests can share a Redis (and run in parallel) and reset() clears
    # only what this test wrote.
    limiter = RateLimiter(storage_uri, "5/minute", key_prefix=f"runplane-test:{uuid.uuid4().hex}")
    try:
        yield limiter
    finally:
        await limiter.reset()
        await limiter.close()


async def _wait_until_allowed(limiter: RateLimiter, bucket: str, limit: str) -> RateLimitResult:
    # Poll against a deadline rather than sleeping a fixed time: as fast as the storage allows, and a
    # window that never ends fails the test instead of hanging it.
    with anyio.fail_after(5):
        while True:
            result = await limiter.peek(bucket, limit)
            if result.allowed:
                return result
            await anyio.sleep(0.05)


@pytest.mark.anyio
async def test_hits_count_down_and_the_next_one_is_refused(limiter: RateLimiter) -> None:
    results = [await limiter.hit("k") for _ in range(5)]
    assert [r.allowed for r in results] == [True] * 5
    assert [r.remaining for r in results] == [4, 3, 2, 1, 0]
    assert all(r.limit == 5 and r.retry_after == 0 for r in results)
    assert all(0 < r.reset_after <= 60 for r in results)

    refused = await limiter.hit("k")
    assert refused.allowed is False
    assert refused.remaining == 0
    assert refused.limit == 5
    assert 1 <= refused.retry_after <= 60
    assert refused.retry_after >= refused.reset_after


@pytest.mark.anyio
async def test_an_explicit_limit_overrides_the_default(limiter: RateLimiter) -> None:
    first = await limiter.hit("k", "2/hour")
    assert (first.allowed, first.limit, first.remaining) == (True, 2, 1)
    assert 3500 < first.reset_after <= 3600
    assert (await limiter.hit("k", "2/hour")).allowed
    assert not (await limiter.hit("k", "2/hour")).allowed
    # The same bucket under another limit is another budget.
    assert (await limiter.hit("k")).remaining == 4


@pytest.mark.anyio
async def test_peek_spends_nothing(limiter: RateLimiter) -> None:
    fresh = await limiter.peek("k")
    assert fresh == RateLimitResult(allowed=True, limit=5, remaining=5, reset_after=0.0, retry_after=0)
    for _ in range(3):
        await limiter.hit("k")
    for _ in range(10):
        peeked = await limiter.peek("k")
        assert (peeked.allowed, peeked.remaining, peeked.retry_after) == (True, 2, 0)
        assert peeked.reset_after > 0
    await limiter.hit("k")
    await limiter.hit("k")
    spent = await limiter.peek("k")
    assert (spent.allowed, spent.remaining) == (False, 0)
    assert spent.retry_after >= 1
    assert (await limiter.peek("k")).remaining == 0


@pytest.mark.anyio
async def test_buckets_are_independent(limiter: RateLimiter) -> None:
    for _ in range(5):
        await limiter.hit("a")
    assert not (await limiter.hit("a")).allowed
    other = await limiter.hit("b")
    assert (other.allowed, other.remaining) == (True, 4)
    assert (await limiter.peek("c")).remaining == 5


@pytest.mark.anyio
async def test_the_budget_comes_back_when_the_window_ends(limiter: RateLimiter) -> None:
    assert (await limiter.hit("k", "2/second")).allowed
    assert (await limiter.hit("k", "2/second")).allowed
    refused = await limiter.hit("k", "2/second")
    assert not refused.allowed
    assert refused.retry_after == 1

    recovered = await _wait_until_allowed(limiter, "k", "2/second")
    assert recovered.allowed
    assert recovered.remaining == 2
    again = await limiter.hit("k", "2/second")
    assert (again.allowed, again.remaining) == (True, 1)


@pytest.mark.anyio
async def test_reset_forgets_every_bucket(limiter: RateLimiter) -> None:
    for _ in range(5):
        await limiter.hit("a")
    await limiter.hit("b")
    await limiter.reset()
    assert (await limiter.peek("a")).remaining == 5
    assert (await limiter.peek("b")).remaining == 5


@pytest.mark.anyio
async def test_check_and_reuse_after_close(limiter: RateLimiter) -> None:
    assert await limiter.check()
    await limiter.hit("k")
    await limiter.close()
    # A closed limiter reconnects on its next use; the counters are in the storage, not the connection.
    assert (await limiter.hit("k")).remaining == 3


@pytest.mark.anyio
async def test_reset_on_redis_clears_only_its_own_prefix() -> None:
    _require_redis()
    uri = storage_uri_for(REDIS_URL, Path("/unused"))
    mine = RateLimiter(uri, "5/minute", key_prefix=f"runplane-test:{uuid.uuid4().hex}")
    theirs = RateLimiter(uri, "5/minute", key_prefix=f"runplane-test:{uuid.uuid4().hex}")
    try:
        await mine.hit("k")
        await theirs.hit("k")
        await mine.reset()
        assert (await mine.peek("k")).remaining == 5
        assert (await theirs.peek("k")).remaining == 4
    finally:
        await theirs.reset()
        await mine.close()
        await theirs.close()


@pytest.mark.anyio
async def test_an_unreachable_redis_raises_storage_error() -> None:
    # Port 1 on loopback refuses at once: the caller sees limits' StorageError, whatever the client.
    limiter = RateLimiter("async+redis://127.0.0.1:1/0", "5/minute")
    try:
        with pytest.raises(StorageError):
            await limiter.hit("k")
    finally:
        await limiter.close()


@pytest.mark.anyio
async def test_sqlite_storage_purges_expired_rows(tmp_path: Path) -> None:
    storage = SQLiteStorage(f"runplane+sqlite://{tmp_path / 'rl.sqlite3'}", purge_interval=0)
    try:
        assert await storage.incr("old", expiry=1) == 1
        assert await storage.incr("old", expiry=1) == 2
        assert await storage.get("old") == 2
        with anyio.fail_after(5):
            while True:
                if await storage.get("old") == 0:
                    break
                await anyio.sleep(0.05)
        # The next increment of any key deletes the expired row...
        assert await storage.incr("new", expiry=60) == 1
        with closing(sqlite3.connect(tmp_path / "rl.sqlite3")) as connection:
            keys = [row[0] for row in connection.execute("SELECT key FROM rate_limit_counters")]
        assert keys == ["new"]
        # ...and an expired key starts a fresh window rather than adding to the old count.
        assert await storage.incr("new", expiry=60) == 2
        await storage.clear("new")
        assert await storage.get("new") == 0
        assert await storage.get_expiry("missing") == pytest.approx(time.time(), abs=1)
    finally:
        storage.close()


@pytest.mark.anyio
async def test_a_locked_database_is_waited_for_without_blocking_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "rl.sqlite3"
    storage = SQLiteStorage(f"runplane+sqlite://{path}")
    ticks = 0
    counts: list[int] = []

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.001)

    async def increment() -> None:
        counts.append(await storage.incr("k", 60))

    try:
        assert await storage.incr("k", 60) == 1
        with closing(sqlite3.connect(path, isolation_level=None)) as blocker:
            blocker.execute("BEGIN IMMEDIATE")  # another process's write lock
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(tick)
                tasks.start_soon(increment)
                await anyio.sleep(0.2)
                assert counts == []
                # Readers are never blocked by the writer (WAL)...
                assert await storage.get("k") == 1
                # ...and the waiting writer did not block the event loop.
                assert ticks >= 10
                blocker.execute("COMMIT")
                with anyio.fail_after(5):
                    while True:
                        if counts:
                            break
                        await anyio.sleep(0.01)
                tasks.cancel_scope.cancel()
        assert counts == [2]
        assert storage.busy_retries > 0
    finally:
        storage.close()


@pytest.mark.anyio
async def test_a_lock_held_past_the_busy_timeout_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "rl.sqlite3"
    storage = SQLiteStorage(f"runplane+sqlite://{path}", wrap_exceptions=True, busy_timeout=0.2)
    try:
        await storage.incr("k", 60)
        with closing(sqlite3.connect(path, isolation_level=None)) as blocker:
            blocker.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            with pytest.raises(StorageError):
                await storage.incr("k", 60)
            assert 0.2 <= time.monotonic() - started < 2
            blocker.execute("ROLLBACK")
        assert await storage.incr("k", 60) == 2
    finally:
        storage.close()


def test_a_forked_process_opens_its_own_connection(tmp_path: Path) -> None:
    storage = SQLiteStorage(f"runplane+sqlite://{tmp_path / 'rl.sqlite3'}")

    async def increment() -> int:
        return await storage.incr("k", 60)

    try:
        assert anyio.run(increment) == 1  # the parent's connection is open from here on
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's result comes back as its exit status
            status = 1
            try:
                status = 0 if anyio.run(increment) == 2 else 3
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert anyio.run(increment) == 3
    finally:
        storage.close()


def test_storage_uri_for(tmp_path: Path) -> None:
    assert storage_uri_for("redis://127.0.0.1:6379/15", tmp_path) == "async+redis://127.0.0.1:6379/15"
    assert storage_uri_for("rediss://:pw@h:6380/0", tmp_path) == "async+rediss://:pw@h:6380/0"
    assert (
        storage_uri_for("unix:///run/redis.sock?db=2", tmp_path) == "async+redis+unix:///run/redis.sock?db=2"
    )
    assert storage_uri_for("async+redis://h:6379", tmp_path) == "async+redis://h:6379"
    assert storage_uri_for(None, tmp_path) == f"runplane+sqlite://{tmp_path.resolve()}/{SQLITE_FILE_NAME}"
    assert storage_uri_for("", tmp_path).startswith("runplane+sqlite://")
    with pytest.raises(ValueError, match="not a Redis URL"):
        storage_uri_for("memcached://h:11211", tmp_path)


@pytest.mark.anyio
async def test_sqlite_path_with_odd_characters(tmp_path: Path) -> None:
    data_dir = tmp_path / "data dir #1?x=%20"
    limiter = RateLimiter(storage_uri_for(None, data_dir), "1/minute")
    try:
        assert (await limiter.hit("k")).allowed
        assert not (await limiter.hit("k")).allowed
    finally:
        await limiter.close()
    assert (data_dir / SQLITE_FILE_NAME).is_file()


@pytest.mark.parametrize(
    ("uri", "limit"),
    [
        ("memory://", "5/minute"),
        ("runplane+sqlite://relative/path", "5/minute"),
        ("runplane+sqlite:relative", "5/minute"),
    ],
)
def test_bad_configuration_is_refused(uri: str, limit: str) -> None:
    with pytest.raises(ConfigurationError):
        RateLimiter(uri, limit)


@pytest.mark.parametrize("limit", ["many", "5/fortnight", "1/second;10/minute", ""])
def test_bad_limits_are_refused(tmp_path: Path, limit: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - limits' own messages vary by the mistake
        RateLimiter(storage_uri_for(None, tmp_path), limit)


# Each child process opens its limiter, says "ready", waits for "go" on stdin so that all of them hit at
# the same moment, spends its hits concurrently and prints how many were allowed.
_HAMMER = textwrap.dedent(
    """
    import asyncio, sys
    from runplane.ratelimit import RateLimiter

    async def main(uri: str, prefix: str, bucket: str, hits: int, method: str) -> None:
        limiter = RateLimiter(uri, "50/minute", key_prefix=prefix)
        try:
            await limiter.peek(bucket)
            print("ready", flush=True)
            sys.stdin.readline()
            results = await asyncio.gather(*(getattr(limiter, method)(bucket) for _ in range(hits)))
            print(sum(result.allowed for result in results), flush=True)
        finally:
            await limiter.close()

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]))
    """
)


def _hammer_from_processes(
    uri: str, prefix: str, processes: int, hits: int, method: str = "hit"
) -> list[int]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    children = [
        subprocess.Popen(
            [sys.executable, "-W", "error", "-c", _HAMMER, uri, prefix, "shared", str(hits), method],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(processes)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline()
            if line.strip() != "ready":
                _, errors = child.communicate(timeout=30)
                pytest.fail(f"child did not start: {line!r} {errors}")
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        allowed = []
        for child in children:
            output, errors = child.communicate(timeout=60)
            assert child.returncode == 0, errors
            allowed.append(int(output.strip()))
        return allowed
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.communicate()


async def _peek_once(uri: str, prefix: str, bucket: str) -> RateLimitResult:
    limiter = RateLimiter(uri, "50/minute", key_prefix=prefix)
    try:
        return await limiter.peek(bucket)
    finally:
        await limiter.reset()
        await limiter.close()


def test_the_budget_holds_across_processes_on_sqlite(tmp_path: Path) -> None:
    uri = storage_uri_for(None, tmp_path)
    allowed = _hammer_from_processes(uri, "unused", processes=4, hits=40)
    assert sum(allowed) == 50, allowed
    after = anyio.run(_peek_once, uri, "unused", "shared")
    assert (after.allowed, after.remaining) == (False, 0)


def test_the_budget_holds_across_processes_on_redis(tmp_path: Path) -> None:
    _require_redis()
    uri = storage_uri_for(REDIS_URL, tmp_path)
    prefix = f"runplane-test:{uuid.uuid4().hex}"
    try:
        allowed = _hammer_from_processes(uri, prefix, processes=4, hits=40)
    finally:
        # _peek_once resets the prefix, so the keys go even when the children fail.
        after = anyio.run(_peek_once, uri, prefix, "shared")
    assert sum(allowed) == 50, allowed
    assert (after.allowed, after.remaining) == (False, 0)


# -- spend: batched reservations ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_spend_on_a_small_budget_counts_exactly_like_hit(limiter: RateLimiter) -> None:
    # 5 units: every reservation is a single unit, so spend refuses exactly where hit does.
    results = [await limiter.spend("k") for _ in range(5)]
    assert [r.allowed for r in results] == [True] * 5
    assert [r.remaining for r in results] == [4, 3, 2, 1, 0]
    refused = await limiter.spend("k")
    assert (refused.allowed, refused.remaining) == (False, 0)
    assert 1 <= refused.retry_after <= 60
    assert not (await limiter.hit("k")).allowed


@pytest.mark.anyio
async def test_spend_reserves_in_batches_and_counts_every_unit(storage_uri: str) -> None:
    limit = "6000/minute"
    prefix = f"runplane-test:{uuid.uuid4().hex}"
    spender = RateLimiter(storage_uri, limit, key_prefix=prefix)
    # Another process's limiter: what it sees is only the shared counter.
    other = RateLimiter(storage_uri, limit, key_prefix=prefix)
    try:
        results = [await spender.spend("k") for _ in range(200)]
        assert all(r.allowed for r in results)
        # The shared counter holds at least every unit spent, and at most one batch (64) more: most spends
        # wrote nothing.
        counted = 6000 - (await other.peek("k")).remaining
        assert 200 <= counted <= 200 + 64
    finally:
        await spender.reset()
        await spender.close()
        await other.close()


@pytest.mark.anyio
async def test_spend_reservations_end_with_the_window(limiter: RateLimiter) -> None:
    # A 2-second window ends well before a reservation could be carried into the next one (the margin).
    assert (await limiter.spend("k", "40/2 seconds")).allowed
    for _ in range(39):
        await limiter.spend("k", "40/2 seconds")
    assert not (await limiter.spend("k", "40/2 seconds")).allowed
    with anyio.fail_after(10):
        while not (await limiter.spend("k", "40/2 seconds")).allowed:  # noqa: ASYNC110 - polls the storage
            await anyio.sleep(0.05)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_spent_budget_never_exceeds_the_limit_across_processes(tmp_path: Path, backend: str) -> None:
    if backend == "redis":
        _require_redis()
    uri = storage_uri_for(REDIS_URL if backend == "redis" else None, tmp_path)
    prefix = f"runplane-test:{uuid.uuid4().hex}"
    try:
        allowed = _hammer_from_processes(uri, prefix, processes=4, hits=40, method="spend")
    finally:
        after = anyio.run(_peek_once, uri, prefix, "shared")
    # 50/minute: batches of at most 50 // 16 = 3, so at most 3 processes x 2 stranded units go unused.
    assert 50 - 3 * 2 <= sum(allowed) <= 50, allowed
    assert after.remaining == 0
