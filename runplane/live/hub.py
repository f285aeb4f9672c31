"""One `EventHub` per server process: reads the durable event log once and fans events out to its clients.

The events table (`EventRow`, written by `runplane.events.record` in the transaction of each change) is the
truth. A single background reader per process selects the rows after the last id it has handled, every
`event_poll_seconds` or sooner when woken (PostgreSQL LISTEN/NOTIFY, SQLite's datagrams between the
processes of one server (`runplane.live.siblings`), or a commit in this process), and
hands each event to every subscriber that wants it. Every process and host does the same, so a client sees
the same events whichever process it is connected to.

A process nobody listens to (no subscriber, no waiting long-poll claim) reads on wake-ups only (its own
commits, NOTIFY, a sibling's datagram), at most once every `UNHEARD_POLL_GAP` however many commits wake
it, and for pruning, not on the clock: an idle server costs next to nothing, and a busy one nobody
watches reads the log about once a second per process, not after every commit (docs/benchmarks.md, "The
event hub's cost per commit"). Its cursor thus lags the log by up to that gap (more for what other
processes wrote on SQLite without a datagram), so a new subscription first calls `catch_up()`, which
reads up to the end of the log before the subscriber's starting point is taken; a claim that starts to
wait wakes the reader at once (`Arrivals.on_wait`), so it hears of any task queued since its look.

Ordering and the id seam. Ids are handed out in insertion order, but on PostgreSQL transactions commit
in any order: id 11 can be visible while id 10 is still in flight. The reader therefore never passes a
missing id until it knows the id will not appear: when every transaction that was running when the gap
was seen has ended (`pg_snapshot_xmin` has passed the horizon taken then) or, failing that, after
`GAP_MAX_WAIT` seconds. On SQLite a writer holds the database lock from its insert to its commit, so ids
become visible in order and a gap only means a deleted row. `cursor` is thus a safe resume point: every
event with an id at or below it has been handed out (or will never exist), and none above it has.

Subscribers. `subscribe()` registers a `Subscription` and records the cursor at that instant
(`Subscription.after`): the subscriber receives exactly the events with ids above it. A stream that
resumes from an older id replays `(last_id, after]` from the table (`replay()`), then takes the live
queue, dropping anything at or below the last id it sent; no event is lost or repeated at the seam.
Each subscriber has a bounded queue; the hub never waits for one. A subscriber whose queue is full is
dropped (`reason` set, `closed` fired) and its connection is closed by its owner with that reason.

Queue figures: after status and worker changes, a hub with a subscriber that can receive them appends
`queue_stats` events (see `runplane.live.queue_stats`). A hub nobody here could tell does not recount; it
recounts when such a subscriber arrives after changes it did not count.

Tenancy: admins receive every event; `worker_status` and `queue_stats` go to everyone; any other event
only to the user it belongs to (`EventRow.user_id`).

Retention: at most every `PRUNE_INTERVAL` seconds the reader deletes events older than
`event_retention_hours` with one DELETE (never the newest row, so SQLite never reuses an id).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from runplane import events, metrics
from runplane.lifecycle import TaskStatus
from runplane.live import queue_stats
from runplane.live.arrivals import Arrivals
from runplane.live.siblings import SiblingWakeups
from runplane.store import notify
from runplane.store.event_log import EventLog, EventRecord
from runplane.store.tables import EventRow, utcnow

if TYPE_CHECKING:
    from runplane.security import Principal
    from runplane.settings import Settings
    from runplane.store.database import Database

logger = logging.getLogger("runplane.live")

ALL_TOPICS: Final = frozenset(events.TOPICS)
PUBLIC_TOPICS: Final = frozenset({events.WORKER_STATUS, events.QUEUE_STATS})

BATCH: Final = 500
"""Rows read per poll; a full batch is followed by another poll at once."""
YIELD_EVERY: Final = 32
"""Most events handed out between two yields to the event loop, so clients' writers drain their queues
(fewer with small queues: a quarter of the queue size)."""
GAP_MAX_WAIT: Final = 10.0
"""Seconds an id gap may hold delivery back when it cannot be proven permanent sooner."""
PRUNE_INTERVAL: Final = 300.0
MIN_POLL_GAP: Final = 0.05
"""Least time from the start of one poll to the start of the next. Every commit that wrote events wakes
the reader; an event committed after a quiet spell is read at once, but a stream of them (every task
submission writes one) is read in batches, at most 1 / MIN_POLL_GAP reads a second, however many
requests write: otherwise each write request paid a read of the log after it (docs/benchmarks.md, "The
API's fixed cost"). The price is up to this much delay for live events under load; a wake-up while a
long-poll claim waits is read at once (`EventHub._poll_delay`)."""
UNHEARD_POLL_GAP: Final = 1.0
"""`MIN_POLL_GAP` of a process nobody listens to (no subscriber, no waiting claim): its reads only keep
its cursor near the end of the log, so that `catch_up` has little to read; a subscriber or a claim that
arrives in the middle of the gap ends it (`EventHub._hurry`)."""

ConnectionKind = Literal["websocket", "sse"]


class HubNotReady(Exception):
    """The hub has not read the event log yet (database unreachable since start)."""


class Dropped(Exception):
    """The subscription was closed by the hub; `reason` says why, `code` is the WebSocket close code."""

    def __init__(self, reason: str, code: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def timestamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One event of the log, with its `StreamEvent` JSON rendered once for every client."""

    id: int
    topic: str
    task_id: str | None
    user_id: str | None
    created_at: datetime
    data: dict[str, Any]
    message: str
    """The StreamEvent (`{"type", "id", "ts", "data"}`) as JSON: one WebSocket message, one SSE data line."""

    @classmethod
    def of(cls, row: EventRecord | EventRow) -> LiveEvent:
        # Events are recorded without None values; this also drops them from events an older version wrote.
        data = events.without_none(row.data)
        message = json.dumps(
            {"type": row.topic, "id": row.id, "ts": timestamp(row.created_at), "data": data},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return cls(row.id, row.topic, row.task_id, row.user_id, row.created_at, data, message)

    def sse(self) -> str:
        return f"id: {self.id}\nevent: {self.topic}\ndata: {self.message}\n\n"


def _wants_queue_stats(sub: Subscription) -> bool:
    """Whether `sub` can receive `queue_stats` events (every principal may; a task's stream never does)."""
    return sub.task_id is None and (sub.topics is None or events.QUEUE_STATS in sub.topics)


def visible(principal: Principal, topic: str, user_id: str | None) -> bool:
    """Tenancy: may `principal` receive an event of `topic` that belongs to `user_id`?"""
    return (
        principal.is_admin or topic in PUBLIC_TOPICS or (user_id is not None and user_id == principal.user_id)
    )


_CLOSED: Final = object()


@dataclass(eq=False)
class Subscription:
    """One client's interest: which topics (None: all), which task (None: any), and its bounded queue.

    The queue holds `LiveEvent`s from the hub and, for WebSocket clients, the replies their owner
    `offer()`s; it is read with `next()`.
    """

    principal: Principal
    kind: ConnectionKind
    maxsize: int
    after: int
    topics: frozenset[str] | None = None
    task_id: str | None = None
    reason: str | None = None
    code: int = 1000
    queue: asyncio.Queue[object] = field(init=False)
    closed: asyncio.Event = field(init=False, default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.maxsize + 1)  # +1: room for the closing marker

    def wants(self, event: LiveEvent) -> bool:
        if self.topics is not None and event.topic not in self.topics:
            return False
        if self.task_id is not None and event.task_id != self.task_id:
            return False
        return visible(self.principal, event.topic, event.user_id)

    def _put(self, item: object) -> bool:
        if self.reason is not None:
            return True  # already closed: nothing more is queued, nothing more to drop
        if self.queue.qsize() >= self.maxsize:
            return False
        self.queue.put_nowait(item)
        return True

    def _close(self, reason: str, code: int) -> int:
        """Marks the subscription closed and empties its queue; returns how many events were discarded."""
        if self.reason is not None:
            return 0
        self.reason, self.code = reason, code
        discarded = 0
        while not self.queue.empty():
            if isinstance(self.queue.get_nowait(), LiveEvent):
                discarded += 1
        self.queue.put_nowait(_CLOSED)
        self.closed.set()
        return discarded

    async def next(self) -> object:
        """The next queued item; raises `Dropped` once the hub closed the subscription."""
        item = await self.queue.get()
        if item is _CLOSED:
            self.queue.put_nowait(_CLOSED)  # every later call raises too
            raise Dropped(self.reason or "closed", self.code)
        return item

    def pending(self) -> list[object]:
        """Everything queued now, without waiting (stops before the closing marker)."""
        items: list[object] = []
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if item is _CLOSED:
                self.queue.put_nowait(_CLOSED)
                break
            items.append(item)
        return items


@dataclass
class HubStats:
    """This process's live-event figures (the Prometheus ones are kept by `runplane.metrics`)."""

    events_published: int = 0
    """Events this process read from the log and handed to its subscribers."""
    events_dropped: int = 0
    """Events discarded from the queues of subscribers dropped as too slow."""
    subscribers_dropped: int = 0
    connections: dict[str, int] = field(default_factory=lambda: {"websocket": 0, "sse": 0})


@dataclass
class _Gap:
    start: int
    seen: float
    horizon: int | None


class EventHub:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.log = EventLog(db)
        self.poll_interval = settings.event_poll_seconds
        self.retention = timedelta(hours=settings.event_retention_hours)
        self.queue_size = settings.ws_queue_size
        self._yield_every = max(1, min(YIELD_EVERY, self.queue_size // 4))
        self.cursor: int | None = None
        self.stats = HubStats()
        self._postgres = db.backend == "postgresql"
        # SQLite's stand-in for LISTEN/NOTIFY between the processes of one server.
        self.siblings = (
            None
            if self._postgres
            else SiblingWakeups(settings.resolved_data_dir / "run" / "wake", settings.sqlalchemy_url)
        )
        self._subs: dict[Subscription, None] = {}  # insertion-ordered set
        self._gap: _Gap | None = None
        self._next_prune = 0.0
        self._polled_at = float("-inf")
        """When the reader's last poll started (time.monotonic())."""
        self._last_poll = 0.0
        self._poll_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()
        """Set when a subscriber or a waiting claim arrives: the reader's pause between reads is
        recomputed (it may be shorter now)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._queue_changed = asyncio.Event()
        self._queue_stale = False
        """Whether the queue changed while no subscriber here could receive its figures (not recounted)."""
        self.arrivals = Arrivals()
        """Told of every task that became `queued` and every worker status change (long-poll claims wait on
        it; see runplane.live.arrivals)."""
        self.sockets = 0
        """Open WebSockets of this process, authenticated or not (what `ws_max_connections` limits)."""

    # --- life cycle ---------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.cursor is not None

    async def start(self) -> None:
        """Reads the current end of the log (live streams start there) and starts the reader."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()
        self._poll_lock = asyncio.Lock()
        self.arrivals.closed = False
        self.arrivals.on_wait = self._heard
        try:
            await self._init_cursor()
        except Exception:
            logger.warning("event log unreadable at start; the live reader will retry", exc_info=True)
        notify.add_listener(self._woken)
        if self.siblings is not None:
            self.siblings.open(self.wake)
            notify.add_listener(self.siblings.send)
        self._queue_changed = asyncio.Event()
        self._tasks.append(asyncio.create_task(self._run(), name="runplane-live-reader"))
        self._tasks.append(asyncio.create_task(self._queue_stats(), name="runplane-queue-stats"))
        if self._postgres:
            self._tasks.append(asyncio.create_task(self._listen(), name="runplane-live-listen"))

    async def stop(self) -> None:
        notify.remove_listener(self._woken)
        if self.siblings is not None:
            notify.remove_listener(self.siblings.send)
            self.siblings.close()
        self.arrivals.on_wait = None
        self.arrivals.close()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sub in list(self._subs):
            self._drop(sub, "server shutting down", 1012)

    def wake(self) -> None:
        """Poll now (a hint that new events were committed)."""
        self._wake.set()

    def _heard(self) -> None:
        """Someone listens now (a subscriber, a waiting claim): read at once, not after the unheard gap."""
        self._wake.set()
        self._hurry.set()

    def _woken(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    # --- subscribers --------------------------------------------------------------------------------

    def subscribe(
        self,
        principal: Principal,
        kind: ConnectionKind,
        *,
        topics: frozenset[str] | None = None,
        task_id: str | None = None,
    ) -> Subscription:
        """A new subscription receiving every wanted event with an id above the current cursor.

        Await `catch_up()` first (with no await in between) so that the cursor is the end of the log: a
        hub that nobody listened to may lag it."""
        if self.cursor is None:
            raise HubNotReady("the event log has not been read yet")
        sub = Subscription(principal, kind, self.queue_size, self.cursor, topics=topics, task_id=task_id)
        if not self._subs:
            self._heard()  # the reader reads on its clock again
        self._subs[sub] = None
        self.topics_changed(sub)
        self.stats.connections[kind] += 1
        metrics.connection_opened(kind)
        return sub

    def topics_changed(self, sub: Subscription) -> None:
        """`sub` is new or its topics changed (a WebSocket `subscribe`): when it can receive `queue_stats`
        now and the queue changed while nobody here could, recount (nothing was counted then)."""
        if self._queue_stale and sub in self._subs and _wants_queue_stats(sub):
            self._queue_stale = False
            self._queue_changed.set()

    def unsubscribe(self, sub: Subscription) -> None:
        if self._subs.pop(sub, "absent") is None:
            self.stats.connections[sub.kind] -= 1
            metrics.connection_closed(sub.kind)
        sub._close("unsubscribed", 1000)

    @contextlib.contextmanager
    def subscription(
        self,
        principal: Principal,
        kind: ConnectionKind,
        *,
        topics: frozenset[str] | None = None,
        task_id: str | None = None,
    ) -> Iterator[Subscription]:
        sub = self.subscribe(principal, kind, topics=topics, task_id=task_id)
        try:
            yield sub
        finally:
            self.unsubscribe(sub)

    def offer(self, sub: Subscription, item: object) -> bool:
        """Queues a reply for `sub` beside its events; a full queue drops the subscriber (False)."""
        if sub._put(item):
            return True
        self._drop(sub, "too slow: message queue full", 1013)
        return False

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def _drop(self, sub: Subscription, reason: str, code: int) -> None:
        if self._subs.pop(sub, "absent") is None:
            self.stats.connections[sub.kind] -= 1
            metrics.connection_closed(sub.kind)
        discarded = sub._close(reason, code)
        if code == 1013:
            self.stats.subscribers_dropped += 1
            self.stats.events_dropped += discarded + 1
            metrics.events_dropped(sub.kind, discarded + 1)
            logger.warning(
                "live client dropped: %s",
                reason,
                extra={"user_id": sub.principal.user_id, "kind": sub.kind, "discarded": discarded + 1},
            )

    def _note(self, event_id: int, topic: str, status: object) -> None:
        """An event was read: the cursor moves past it, queue figures and waiting claims hear of it."""
        self.cursor = event_id
        self.stats.events_published += 1
        if topic in queue_stats.TRIGGERS:
            self._queue_changed.set()
        if topic == events.WORKER_STATUS or (topic == events.TASK_UPDATE and status == TaskStatus.queued):
            # Work to claim, or a worker drained / lost: waiting claims look again.
            self.arrivals.notify()

    def _publish(self, event: LiveEvent) -> None:
        self._note(event.id, event.topic, event.data.get("status"))
        for sub in tuple(self._subs):
            if sub.wants(event) and not sub._put(event):
                self._drop(sub, "too slow: event queue full", 1013)

    # --- replay ---------------------------------------------------------------------------------------

    async def replay(
        self,
        principal: Principal,
        *,
        after: int,
        upto: int | None,
        task_id: str | None = None,
        page: int = BATCH,
    ) -> AsyncIterator[LiveEvent]:
        """The stored events with `after < id <= upto` (no upper bound: None) that `principal` may see."""
        cursor = after
        while upto is None or cursor < upto:
            visible_to = None if principal.is_admin else (principal.user_id, tuple(PUBLIC_TOPICS))
            rows = await self.log.page(
                after=cursor, upto=upto, limit=page, task_id=task_id, visible_to=visible_to
            )
            for row in rows:
                yield LiveEvent.of(row)
            if len(rows) < page:
                return
            cursor = rows[-1].id

    async def catch_up(self) -> None:
        """Brings the hub up to the end of the log (for a new subscription, which then starts there).

        The events after the cursor are read and handed out now, whenever the last read was: a read a
        moment ago (a wake-up, the clock) says nothing of what was committed since. On SQLite, a backlog of more
        than one batch with no subscriber to hand it to is skipped (ids are visible in order there, so the
        newest id is a safe resume point). A failure is logged: the subscription then starts at the cursor
        it has, so its client may see some earlier events, but misses none.
        """
        if self.cursor is None:
            return
        try:
            if not self._postgres and not self._subs:
                async with self._poll_lock:
                    newest = await self.log.newest_id()
                    if self.cursor is not None and newest - self.cursor > BATCH:
                        self.cursor = newest
                        self.arrivals.notify()
                        self._queue_changed.set()
            while await self._poll():
                pass
        except Exception:
            logger.warning("could not catch up with the event log", exc_info=True)

    def _next_wait(self) -> float | None:
        """How long the reader waits for a wake-up before reading again (None: until woken).

        `poll_interval` while anyone listens: a subscriber, a waiting long-poll claim, or an open id gap
        (which only a later read can close). Otherwise until the next prune is due: commits of this
        process and PostgreSQL NOTIFY still wake it, and a new subscriber catches up (`catch_up`).
        """
        if self._subs or self.arrivals.waiting or self._gap is not None or self.cursor is None:
            return self.poll_interval
        if self.retention <= timedelta(0):
            return None
        return max(self.poll_interval, self._next_prune - time.monotonic())

    # --- the reader -----------------------------------------------------------------------------------

    async def _init_cursor(self) -> None:
        self.cursor = await self.log.newest_id()

    async def _run(self) -> None:
        failures = 0
        while True:  # until stop() cancels it
            more = False
            try:
                if self.cursor is None:
                    await self._init_cursor()
                self._polled_at = time.monotonic()
                more = await self._poll()
                await self._maybe_prune()
                failures = 0
            except Exception:
                failures += 1
                logger.warning("reading the event log failed (attempt %d)", failures, exc_info=True)
                await asyncio.sleep(min(0.5 * failures, 5.0))
            if not more:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._next_wait()):
                        await self._wake.wait()
                # Wake-ups that come within MIN_POLL_GAP of the last poll wait for the rest of it and
                # are then served by one read.
                await self._pause()

    def _poll_delay(self) -> float:
        """Seconds until the next poll may start: none after a quiet spell or while a long-poll claim waits
        for work, else the rest of MIN_POLL_GAP (UNHEARD_POLL_GAP while nobody listens).

        A waiting claim is an idle worker: the task it waits for should start now, not after the gap (up
        to 50 ms of the submit→start latency, issue 11 §3). While workers are busy no claim waits, so a
        burst of submissions is still read in batches."""
        if self.arrivals.waiting:
            return 0.0
        gap = MIN_POLL_GAP if self._subs else UNHEARD_POLL_GAP
        return max(0.0, self._polled_at + gap - time.monotonic())

    async def _pause(self) -> None:
        """Waits out `_poll_delay()`, recomputed whenever a subscriber or a waiting claim arrives."""
        while True:
            self._hurry.clear()
            delay = self._poll_delay()
            if delay <= 0.0:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._hurry.wait()

    async def _queue_stats(self) -> None:
        """Recounts the queue after changes, at most once per interval, while a subscriber here can receive
        the figures (see `runplane.live.queue_stats`)."""
        while True:  # until stop() cancels it
            await self._queue_changed.wait()
            self._queue_changed.clear()
            if not any(_wants_queue_stats(sub) for sub in self._subs):
                self._queue_stale = True  # nobody here to tell: `subscribe` recounts for the next one
                continue
            try:
                await queue_stats.publish_if_changed(self.db)
            except Exception:
                logger.warning("could not publish the queue's figures; trying again", exc_info=True)
                self._queue_changed.set()
            await asyncio.sleep(queue_stats.MIN_INTERVAL_SECONDS)

    async def _poll(self) -> bool:
        """Hands out the next events in id order; True when more may be waiting already."""
        async with self._poll_lock:  # the reader and `catch_up` never read at once
            return await self._poll_locked()

    async def _poll_locked(self) -> bool:
        assert self.cursor is not None
        self._wake.clear()
        self._last_poll = time.monotonic()
        # With a gap open, the read also returns its snapshot's xmin: transactions that ended before
        # that point are visible to it.
        rows, xmin = await self.log.read_after(self.cursor, BATCH, with_xmin=self._gap is not None)
        ready, gap_at = self._in_order(rows, xmin)
        if gap_at is None:
            self._gap = None
        elif self._gap is None or self._gap.start != gap_at:
            # Taken after the read (a later xmax only makes the wait for in-flight transactions safer).
            horizon = await self.log.snapshot_xmax()
            self._gap = _Gap(gap_at, time.monotonic(), horizon)
        for index, row in enumerate(ready):
            if not self._subs:  # nobody to render it for: only what the process itself needs from it
                self._note(row.id, row.topic, row.data.get("status"))
                continue
            self._publish(LiveEvent.of(row))
            if index % self._yield_every == self._yield_every - 1:
                await asyncio.sleep(0)
        return gap_at is None and len(rows) == BATCH

    def _in_order(
        self, rows: Sequence[EventRecord], xmin: int | None
    ) -> tuple[list[EventRecord], int | None]:
        """The rows that may be handed out now, and the first missing id that holds the rest back."""
        assert self.cursor is not None
        expected = self.cursor + 1
        ready: list[EventRecord] = []
        for row in rows:
            if row.id != expected and not self._gap_closed(expected, xmin):
                return ready, expected
            ready.append(row)
            expected = row.id + 1
        return ready, None

    def _gap_closed(self, start: int, xmin: int | None) -> bool:
        """May the reader pass the missing ids from `start` on (they will never be committed)?"""
        if not self._postgres:
            return True  # SQLite: ids become visible in order; a gap is a deleted row
        gap = self._gap
        if gap is None or gap.start != start:
            return False  # first seen now: wait for the transactions in flight
        if xmin is not None and gap.horizon is not None and xmin >= gap.horizon:
            self._gap = None
            return True
        if time.monotonic() - gap.seen > GAP_MAX_WAIT:
            logger.warning("event id %d still missing after %.0f s; passing it", start, GAP_MAX_WAIT)
            self._gap = None
            return True
        return False

    async def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now < self._next_prune or self.retention <= timedelta(0):
            return
        self._next_prune = now + PRUNE_INTERVAL
        cutoff = utcnow() - self.retention
        removed = await self.log.prune(cutoff)
        if removed:
            logger.info("pruned %d events older than %s", removed, cutoff.isoformat())

    async def _listen(self) -> None:
        """PostgreSQL: LISTEN for the commit notifications and wake the reader (reconnects on failure)."""
        import psycopg

        dsn = self.log.listen_dsn()
        failures = 0
        while True:  # until stop() cancels it
            try:
                async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as connection:
                    await connection.execute(f"LISTEN {notify.CHANNEL}")
                    failures = 0
                    self._wake.set()  # whatever was committed while not listening
                    async for _ in connection.notifies():
                        self._wake.set()
            except Exception:
                failures += 1
                logger.warning(
                    "LISTEN connection failed (attempt %d); polling meanwhile", failures, exc_info=True
                )
                await asyncio.sleep(min(2.0 * failures, 30.0))
