"""The event hub in process, on SQLite and PostgreSQL: id order across concurrent transactions, the
replay/live seam, tenancy, dropping a subscriber whose queue is full, and pruning."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from runplane.live import hub as hub_module
from runplane.live.hub import Dropped, EventHub, LiveEvent, Subscription
from runplane.security import Principal
from runplane.settings import Settings
from runplane.store import events, notify
from runplane.store.database import Database
from runplane.store.event_log import EventLog
from runplane.store.tables import EventRow, utcnow

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

ALICE = Principal(user_id="alice", role="user", key_id="k1")
BOB = Principal(user_id="bob", role="user", key_id="k2")
ADMIN = Principal(user_id="root", role="admin", key_id="k3")
DEADLINE = 10.0


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"ws_queue_size": 8, "event_retention_hours": 1}


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.sqlalchemy_url)
    yield database
    await database.close()


@pytest.fixture
async def hub(db: Database, settings: Settings) -> AsyncIterator[EventHub]:
    event_hub = EventHub(db, settings)
    await event_hub.start()
    yield event_hub
    await event_hub.stop()


async def record(db: Database, user: str, index: int, *, topic: str = events.TASK_PROGRESS) -> None:
    async with db.session() as session:
        await events.record(session, topic=topic, task_id=f"t-{user}", user_id=user, data={"index": index})


async def take(sub: Subscription, count: int) -> list[LiveEvent]:
    got: list[LiveEvent] = []
    async with asyncio.timeout(DEADLINE):
        while len(got) < count:
            item = await sub.next()
            assert isinstance(item, LiveEvent)
            got.append(item)
    return got


async def eventually(condition: Callable[[], bool]) -> None:
    """Waits until `condition()` holds (checked every 10 ms), failing past the deadline."""
    async with asyncio.timeout(DEADLINE):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


async def drain(sub: Subscription) -> None:
    """Reads `sub` until the hub closes it (`Dropped`), failing past the deadline."""
    async with asyncio.timeout(DEADLINE):
        while True:
            await sub.next()


async def rolled_back_event(db: Database) -> None:
    async with db.session() as doomed:
        await events.record(doomed, topic=events.TASK_PROGRESS, user_id="a", data={"index": "x"})
        await doomed.flush()  # its id is taken
        raise RuntimeError("rolled back")


async def test_events_arrive_in_id_order_with_tenancy(hub: EventHub, db: Database):
    with (
        hub.subscription(ALICE, "websocket") as alice,
        hub.subscription(ADMIN, "websocket") as admin,
        hub.subscription(BOB, "sse", topics=frozenset({events.WORKER_STATUS})) as bob,
    ):
        for index in range(3):
            await record(db, "alice", index)
            await record(db, "bob", index)
        await record(db, "bob", 9, topic=events.WORKER_STATUS)
        to_admin = await take(admin, 7)
        to_alice = await take(alice, 4)
        to_bob = await take(bob, 1)
    assert [e.id for e in to_admin] == sorted(e.id for e in to_admin)
    assert [(e.user_id, e.data["index"]) for e in to_alice] == [
        ("alice", 0),
        ("alice", 1),
        ("alice", 2),
        ("bob", 9),
    ]
    assert [e.topic for e in to_bob] == [events.WORKER_STATUS]
    assert hub.stats.events_published >= 7


async def test_replay_then_live_has_no_gap_and_no_duplicate(hub: EventHub, db: Database):
    for index in range(5):
        await record(db, "alice", index)
    await eventually(lambda: hub.stats.events_published >= 5)
    with hub.subscription(ALICE, "sse") as sub:
        await record(db, "alice", 5)  # may reach the hub while the replay runs
        replayed = [e async for e in hub.replay(ALICE, after=2, upto=sub.after)]
        live = await take(sub, 1)
    ids = [e.id for e in replayed + live]
    assert [e.data["index"] for e in replayed + live] == [2, 3, 4, 5]
    assert ids == sorted(set(ids))


async def test_a_full_queue_drops_only_that_subscriber(hub: EventHub, db: Database):
    with hub.subscription(ALICE, "websocket") as slow, hub.subscription(ALICE, "websocket") as fast:
        got: list[LiveEvent] = []

        async def consume() -> None:
            got.extend(await take(fast, 20))

        consumer = asyncio.create_task(consume())
        for index in range(20):  # the queue holds 8; `slow` never reads
            await record(db, "alice", index)
        await consumer
        with pytest.raises(Dropped) as dropped:
            await drain(slow)
        assert dropped.value.code == 1013 and "too slow" in dropped.value.reason
        assert slow.closed.is_set() and not fast.closed.is_set()
    assert [e.data["index"] for e in got] == list(range(20))
    assert hub.stats.subscribers_dropped == 1


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_an_id_committed_late_is_not_skipped(hub: EventHub, db: Database):
    """PostgreSQL hands out ids at insert but commits in any order: the hub holds later ids back until
    the earlier transaction has ended, so a subscriber still sees every event, in id order."""
    with hub.subscription(ADMIN, "websocket") as sub:
        async with db.session() as slow:
            await events.record(slow, topic=events.TASK_PROGRESS, user_id="alice", data={"index": "slow"})
            await slow.flush()  # id allocated, not committed
            await record(db, "alice", 1)  # a later id, committed first
            await eventually(lambda: hub._gap is not None)  # it has read the later id and holds it back
            assert sub.queue.empty()
        ordered = await take(sub, 2)
        assert [e.data["index"] for e in ordered] == ["slow", 1]
        assert ordered[0].id < ordered[1].id

        # A transaction that rolls back leaves a gap for good: the hub passes it once that is certain.
        with pytest.raises(RuntimeError, match="rolled back"):
            await rolled_back_event(db)
        await record(db, "alice", 2)
        [after_gap] = await take(sub, 1)
        assert after_gap.data["index"] == 2


async def test_old_events_are_pruned_but_never_the_newest(hub: EventHub, db: Database):
    for index in range(3):
        await record(db, "alice", index)
    async with db.session() as session:
        await session.execute(update(EventRow).values(created_at=utcnow() - timedelta(hours=2)))
    hub._next_prune = 0.0
    await hub._maybe_prune()
    async with db.reader() as session:
        remaining = (await session.execute(select(func.count()).select_from(EventRow))).scalar_one()
    assert remaining == 1  # the newest stays, so SQLite never hands its id out again


async def test_a_wake_up_after_a_quiet_spell_polls_at_once_and_others_wait_for_the_gap(hub: EventHub):
    with hub.subscription(ALICE, "websocket"):
        hub._polled_at = float("-inf")  # no poll for a long time
        assert hub._poll_delay() == 0.0
        hub._polled_at = time.monotonic()  # a poll just started
        assert 0.0 < hub._poll_delay() <= hub_module.MIN_POLL_GAP
    # Nobody listens: the gap is the unheard one.
    assert hub_module.MIN_POLL_GAP < hub._poll_delay() <= hub_module.UNHEARD_POLL_GAP


async def test_a_wake_up_while_a_claim_waits_for_work_polls_at_once(hub: EventHub):
    """An idle worker's long-poll claim waits on the hub's reads: its task must not wait for the gap."""
    hub._polled_at = time.monotonic()  # a poll just started
    assert hub._poll_delay() > 0.0
    waiting = asyncio.create_task(hub.arrivals.wait(hub.arrivals.generation, 30))
    await eventually(lambda: hub.arrivals.waiting == 1)
    hub._polled_at = time.monotonic()
    assert hub._poll_delay() == 0.0
    hub.arrivals.notify()
    await waiting
    assert hub.arrivals.waiting == 0


async def test_commits_within_the_poll_gap_share_one_read(
    hub: EventHub, db: Database, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(hub_module, "MIN_POLL_GAP", 1.0)
    monkeypatch.setattr(hub, "poll_interval", 3600.0)  # no timed polls: only wake-ups read
    polls = 0
    poll = hub._poll

    async def counted() -> bool:
        nonlocal polls
        polls += 1
        return await poll()

    monkeypatch.setattr(hub, "_poll", counted)
    sub = hub.subscribe(ALICE, "websocket")
    # Quiet: the reader waits for a wake-up (PostgreSQL's LISTEN connection wakes it once at its start).
    await eventually(lambda: not hub._wake.is_set() and time.monotonic() > hub._polled_at + 1.0)
    before = polls
    for index in range(5):
        await record(db, "alice", index)
    got = await take(sub, 5)
    assert [event.data["index"] for event in got] == list(range(5))
    # The first commit's wake-up reads at once, the rest a second after it: at most one more read.
    assert polls - before <= 2


async def test_a_subscriber_arriving_after_the_hub_went_quiet_starts_at_the_end_of_the_log(
    hub: EventHub, db: Database, settings: Settings
):
    """With nobody listening the hub reads only when woken, so its cursor may lag what another process
    wrote; a new subscription catches up first and then gets every later event, and none before it."""
    await eventually(lambda: (wait := hub._next_wait()) is None or wait > settings.event_poll_seconds)
    notify.remove_listener(hub._woken)  # what another process commits does not wake this one
    try:
        for index in range(3):
            await record(db, "alice", index)
        async with db.reader() as session:
            newest = (await session.execute(select(func.max(EventRow.id)))).scalar_one()
        await eventually(lambda: hub_idle_for_a_poll(hub))
        await hub.catch_up()
        with hub.subscription(ALICE, "websocket") as sub:
            assert sub.after == newest
            assert hub._next_wait() == settings.event_poll_seconds  # it reads on its clock again
            await record(db, "alice", 3)
            [live] = await take(sub, 1)
        assert live.data["index"] == 3
    finally:
        notify.add_listener(hub._woken)


def hub_idle_for_a_poll(hub: EventHub) -> bool:
    """Whether the hub's last read is more than one poll interval ago (so `catch_up` has work)."""
    return time.monotonic() - hub._last_poll >= hub.poll_interval


async def test_a_waiting_claim_keeps_the_hub_reading_on_its_clock(hub: EventHub, settings: Settings):
    waiter = asyncio.create_task(hub.arrivals.wait(hub.arrivals.generation, DEADLINE))
    await eventually(lambda: hub.arrivals.waiting == 1)
    assert hub._next_wait() == settings.event_poll_seconds
    hub.arrivals.notify()
    assert await waiter
    assert hub.arrivals.waiting == 0


class CountedPolls:
    """Counts the hub's reads of the log (its reader's and `catch_up`'s)."""

    def __init__(self, hub: EventHub, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        poll = hub._poll

        async def counted() -> bool:
            self.count += 1
            return await poll()

        monkeypatch.setattr(hub, "_poll", counted)


async def quiet(hub: EventHub) -> None:
    """Until the reader waits for a wake-up with none pending (PostgreSQL's LISTEN connection wakes it
    once at its start) and its last read is over (with the unheard gap as it is: call it before making
    the gap longer)."""
    await eventually(lambda: not hub._wake.is_set() and not hub._poll_lock.locked())


async def test_a_hub_nobody_listens_to_does_not_read_after_each_commit_yet_a_new_subscriber_misses_nothing(
    hub: EventHub, db: Database, monkeypatch: pytest.MonkeyPatch
):
    """A process with no subscriber and no waiting claim reads the log at most once per
    UNHEARD_POLL_GAP, however many of its commits wake it; a subscriber that arrives then catches up and
    gets every later event at once (not after the gap), and none before its starting point."""
    polls = CountedPolls(hub, monkeypatch)
    await quiet(hub)
    monkeypatch.setattr(hub_module, "UNHEARD_POLL_GAP", 3600.0)
    hub._polled_at = time.monotonic()  # a read just happened: the next waits for the unheard gap
    before = polls.count
    for index in range(5):
        await record(db, "alice", index)
        await asyncio.sleep(2 * hub_module.MIN_POLL_GAP)  # each commit wakes the reader in its own gap
    assert polls.count == before  # woken five times, read none
    assert hub._wake.is_set()

    async with db.reader() as session:
        newest = (await session.execute(select(func.max(EventRow.id)))).scalar_one()
    await hub.catch_up()
    with hub.subscription(ALICE, "websocket") as sub:
        assert sub.after == newest  # the five are behind its starting point (a replay's business)
        await record(db, "alice", 5)
        [live] = await take(sub, 1)  # within DEADLINE, far less than the unheard gap
    assert live.data["index"] == 5
    replayed = [event.data["index"] async for event in hub.replay(ALICE, after=newest - 5, upto=sub.after)]
    assert replayed == [0, 1, 2, 3, 4]


async def test_a_claim_that_starts_waiting_hears_of_a_task_queued_while_nobody_listened(
    hub: EventHub, db: Database, monkeypatch: pytest.MonkeyPatch
):
    """The unheard gap holds the reader back, but a long-poll claim that starts to wait ends it: a task
    queued between the claim's look and its wait still wakes it at once."""
    await quiet(hub)
    monkeypatch.setattr(hub_module, "UNHEARD_POLL_GAP", 3600.0)
    hub._polled_at = time.monotonic()
    seen = hub.arrivals.generation  # the claim looks for work (none) ...
    async with db.session() as session:  # ... a task is queued meanwhile ...
        await events.record(
            session, topic=events.TASK_UPDATE, task_id="t-q", user_id="alice", data={"status": "queued"}
        )
    await asyncio.sleep(2 * hub_module.MIN_POLL_GAP)
    assert hub.arrivals.generation == seen  # nobody listened: not read yet
    async with asyncio.timeout(DEADLINE):  # ... and the claim waits: it is woken, not left to its re-check
        assert await hub.arrivals.wait(seen, 3600.0)


async def test_a_read_while_an_id_gap_is_open_is_one_statement(db: Database, settings: Settings):
    """PostgreSQL: the snapshot's xmin comes with the rows, not in a statement of its own before them."""
    if db.backend != "postgresql":
        pytest.skip("id gaps wait on transactions only on PostgreSQL")
    from sqlalchemy import event as sa_event

    log = EventLog(db)
    await record(db, "alice", 0)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sa_event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        rows, xmin = await log.read_after(0, 10, with_xmin=True)
        empty, no_xmin = await log.read_after(rows[-1].id, 10, with_xmin=True)
    finally:
        sa_event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    assert [row.data["index"] for row in rows] == [0]
    assert isinstance(xmin, int) and xmin > 0
    assert list(empty) == [] and no_xmin is None  # no row after a gap: nothing to decide about it
    assert len([s for s in statements if "events" in s]) == 2 and len(statements) == 2
