"""Prometheus metrics, correct when gunicorn runs several server processes (and several hosts).

Two kinds of figures, collected together at every scrape:

* **Per-process figures**, counted where they happen: HTTP requests and their latency (by the contract's
  operationId, never the raw path, so the label set stays bounded), dispatch latency (observed when a
  worker's claim hands a task out), live events dropped for clients that could not keep up, open
  WebSocket and SSE connections. `runplane serve` sets ``PROMETHEUS_MULTIPROC_DIR`` to a directory under
  the data dir that it empties at start (`prepare_multiprocess_dir`), so prometheus_client keeps these
  in per-process mmap files and every scrape sums all of the host's processes whichever one answers.
  Connection gauges are ``livesum``: a gunicorn ``child_exit`` hook (`runplane.gunicorn_conf`) drops a
  dead process's share. Without the variable (tests, a plain uvicorn) they live in this process's
  `PROCESS_REGISTRY`. Counters start again from zero when the server restarts, as Prometheus expects.
  With several hosts, each host's ``/metrics`` shows its own processes; Prometheus sums the instances.
* **Database figures**, computed by SQL at scrape time, because the database is the truth across every
  process and host: tasks by status, queue depth, workers by state, events published (the newest event
  id: ids are handed out in order, so it counts every event written, pruned or not), and the task wait
  (queued → started running) and run (started → ended) durations as real histograms (each bucket is a
  ``COUNT`` of tasks under its bound). These figures are the same on every host and survive restarts.
  A requeued task counts its latest attempt only (its ``queued_at`` restarts and ``started_at`` clears).
  The duration queries read every started task (about 0.15-0.2 s for 100 000 tasks on SQLite), so
  concurrent scrapes in one process share one computation (`shared_database_figures`).

`collect()` returns all families; `/metrics` renders them (`exposition`) and `/v1/metrics` summarises
the very same families (`snapshot`), so the two cannot disagree.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from runplane.lifecycle import ALL, TaskStatus
from runplane.store import metrics as store_metrics
from runplane.store.database import Database
from runplane.store.tables import utcnow

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE: Final = CONTENT_TYPE_PLAIN_0_0_4
UNROUTED: Final = "unrouted"
"""The operation label of requests connexion did not route (unknown paths, /redoc, /static, refusals
made before routing such as 429 and 413)."""

TASK_STATUSES: Final = tuple(str(status) for status in ALL)
WORKER_STATES: Final = ("active", "draining", "offline")
CONNECTION_KINDS: Final = ("websocket", "sse")
ConnectionKind = Literal["websocket", "sse"]
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})

HTTP_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
DISPATCH_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
TASK_BUCKETS: Final = (
    0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 3 * 3600.0, 12 * 3600.0, 86400.0
)  # fmt: skip

# `_created` series differ between single- and multi-process mode and carry nothing we use.
disable_created_metrics()

PROCESS_REGISTRY: Final = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS: Final = Counter(
    "runplane_http_requests",
    "HTTP requests answered, by operation (the contract's operationId), method and status.",
    ["operation", "method", "status"],
    registry=PROCESS_REGISTRY,
)
HTTP_DURATION: Final = Histogram(
    "runplane_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by operation.",
    ["operation"],
    buckets=HTTP_BUCKETS,
    registry=PROCESS_REGISTRY,
)
DISPATCH_LATENCY: Final = Histogram(
    "runplane_task_dispatch_latency_seconds",
    "Time from a task being queued to a worker's claim handing it out (observed by the API process).",
    buckets=DISPATCH_BUCKETS,
    registry=PROCESS_REGISTRY,
)
EVENTS_DROPPED: Final = Counter(
    "runplane_events_dropped",
    "Live events not delivered because their client could not keep up (and was disconnected), by kind.",
    ["kind"],
    registry=PROCESS_REGISTRY,
)
LIVE_CONNECTIONS: Final = Gauge(
    "runplane_live_connections",
    "Open live-event connections, by kind (websocket, sse).",
    ["kind"],
    multiprocess_mode="livesum",
    registry=PROCESS_REGISTRY,
)
for _name in CONNECTION_KINDS:  # present (as 0) before the first connection
    EVENTS_DROPPED.labels(kind=_name)
    LIVE_CONNECTIONS.labels(kind=_name)


# --- what other code calls ---------------------------------------------------------------------------


def _checked(kind: str) -> str:
    if kind not in CONNECTION_KINDS:
        raise ValueError(f"connection kind must be one of {CONNECTION_KINDS}, not {kind!r}")
    return kind


def connection_opened(kind: ConnectionKind) -> None:
    """A WebSocket or SSE client connected (call `connection_closed` exactly once when it goes)."""
    LIVE_CONNECTIONS.labels(kind=_checked(kind)).inc()


def connection_closed(kind: ConnectionKind) -> None:
    LIVE_CONNECTIONS.labels(kind=_checked(kind)).dec()


def events_dropped(kind: ConnectionKind, count: int = 1) -> None:
    """`count` events were not delivered to a client of this kind (a slow client that was dropped)."""
    if count > 0:
        EVENTS_DROPPED.labels(kind=_checked(kind)).inc(count)


def task_dispatched(queued_at: datetime, now: datetime | None = None) -> None:
    """A queued task was handed to a worker: observe how long it waited for that."""
    DISPATCH_LATENCY.observe(max(((now or utcnow()) - queued_at).total_seconds(), 0.0))


class RequestRecorder:
    """Records one answered HTTP request; label children are cached, so the hot path is a dict lookup."""

    def __init__(self) -> None:
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[str, Any] = {}

    def __call__(self, operation: str | None, method: str, status: int, seconds: float) -> None:
        operation = operation or UNROUTED
        if method not in _METHODS:
            method = "OTHER"
        key = (operation, method, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = HTTP_REQUESTS.labels(operation, method, str(status))
        counter.inc()
        histogram = self._histograms.get(operation)
        if histogram is None:
            histogram = self._histograms[operation] = HTTP_DURATION.labels(operation)
        histogram.observe(seconds)


record_request: Final = RequestRecorder()


# --- `runplane serve` --------------------------------------------------------------------------------


def prepare_multiprocess_dir(data_dir: Path) -> dict[str, str]:
    """The server's metric-file directory, emptied; returns the environment its processes need.

    ``PROMETHEUS_MULTIPROC_DIR`` when the operator set it, else ``<data_dir>/prometheus``. Only the
    ``*.db`` files prometheus_client writes are removed: stale ones from an earlier run would otherwise
    be summed into this one. The variable must be in the server processes' environment before they
    import prometheus_client, so it is given to gunicorn's master, never set later.
    """
    configured = os.environ.get(MULTIPROC_ENV)
    path = Path(configured) if configured else data_dir / "prometheus"
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    return {MULTIPROC_ENV: str(path)}


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


# --- the database figures ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Durations:
    """A histogram computed from the database: cumulative counts under each bound, total, sum."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    count: int
    sum: float


@dataclass(frozen=True)
class DatabaseFigures:
    tasks: dict[str, int]
    workers: dict[str, int]
    events_published: int
    wait: Durations
    run: Durations


def _durations(row: Sequence[Any], bounds: tuple[float, ...]) -> Durations:
    count, total, *under = row
    return Durations(bounds, tuple(int(n) for n in under), int(count), float(total))


def _every(known: Sequence[str], counts: dict[str, int]) -> dict[str, int]:
    """Every known name (0 when absent, so the series exist from the start), then any others."""
    names = [*known, *sorted(set(counts) - set(known))]
    return {name: int(counts.get(name, 0)) for name in names}


async def database_figures(db: Database, dialect: str) -> DatabaseFigures:
    """The figures the database holds (`runplane.store.metrics.figures`: read-only aggregate queries)."""
    raw = await store_metrics.figures(db, dialect, TASK_BUCKETS)
    return DatabaseFigures(
        tasks=_every(TASK_STATUSES, raw.task_counts),
        workers=_every(WORKER_STATES, raw.worker_counts),
        events_published=raw.newest_event,
        wait=_durations(raw.wait, TASK_BUCKETS),
        run=_durations(raw.run, TASK_BUCKETS),
    )


_computing: weakref.WeakKeyDictionary[Database, asyncio.Task[DatabaseFigures]] = weakref.WeakKeyDictionary()


async def shared_database_figures(db: Database, dialect: str) -> DatabaseFigures:
    """`database_figures`, shared by the scrapes of this process that arrive while it is computed.

    `/metrics` is open by default and its queries read whole tables: however many clients scrape at
    once, each process runs at most one computation at a time. A scrape that joins one started a moment
    before it arrived; every scrape still sees everything committed before that computation began.
    """
    task = _computing.get(db)
    if task is None:
        task = asyncio.get_running_loop().create_task(database_figures(db, dialect))
        _computing[db] = task

        def finished(done: asyncio.Task[DatabaseFigures]) -> None:
            if _computing.get(db) is done:
                del _computing[db]
            if not done.cancelled():
                done.exception()  # retrieved here, so a failure nobody awaited any more is not logged twice

        task.add_done_callback(finished)
    return await asyncio.shield(task)


def _histogram(name: str, documentation: str, durations: Durations) -> HistogramMetricFamily:
    buckets: list[tuple[str, float]] = [
        (floatToGoString(bound), float(n))
        for bound, n in zip(durations.bounds, durations.cumulative, strict=True)
    ]
    buckets.append(("+Inf", float(durations.count)))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=durations.sum)


def database_families(figures: DatabaseFigures) -> list[Metric]:
    tasks = GaugeMetricFamily(
        "runplane_tasks", "Tasks by status (all tasks in the database).", labels=["status"]
    )
    for status, count in figures.tasks.items():
        tasks.add_metric([status], count)
    workers = GaugeMetricFamily("runplane_workers", "Registered workers by state.", labels=["state"])
    for state, count in figures.workers.items():
        workers.add_metric([state], count)
    return [
        tasks,
        GaugeMetricFamily(
            "runplane_queue_depth",
            "Tasks queued and waiting for a worker.",
            value=figures.tasks[TaskStatus.queued],
        ),
        workers,
        CounterMetricFamily(
            "runplane_events_published",
            "Events written to the event log (task, progress, worker and queue changes).",
            value=figures.events_published,
        ),
        _histogram(
            "runplane_task_wait_duration_seconds",
            "Time tasks waited from queued to running (tasks that have started; latest attempt).",
            figures.wait,
        ),
        _histogram(
            "runplane_task_run_duration_seconds",
            "Time finished tasks ran, from running to their end (tasks that started).",
            figures.run,
        ),
    ]


# --- collecting and rendering ------------------------------------------------------------------------


def process_families() -> list[Metric]:
    """This host's per-process figures: every server process's files, or this process alone."""
    path = multiprocess_dir()
    if path is not None:
        return list(MultiProcessCollector(None, path=path).collect())
    return list(PROCESS_REGISTRY.collect())


async def collect(db: Database, dialect: str) -> list[Metric]:
    return [*process_families(), *database_families(await shared_database_figures(db, dialect))]


class _Families(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def exposition(families: Iterable[Metric]) -> bytes:
    """The Prometheus text format 0.0.4 (`CONTENT_TYPE`)."""
    return generate_latest(_Families(families))


def snapshot(families: Iterable[Metric], *, now: datetime | None = None) -> dict[str, Any]:
    """The figures of `families` in the shape of the contract's `MetricsSnapshot`."""
    requests: dict[tuple[str, int], float] = defaultdict(float)
    values: dict[str, float] = defaultdict(float)
    labelled: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for family in families:
        for sample in family.samples:
            name, labels = sample.name, sample.labels
            if name == "runplane_http_requests_total":
                requests[(labels["operation"], int(labels["status"]))] += sample.value
            elif name in ("runplane_tasks", "runplane_workers"):
                labelled[name][labels["status" if name == "runplane_tasks" else "state"]] += sample.value
            elif name in ("runplane_events_dropped_total", "runplane_live_connections"):
                labelled[name][labels["kind"]] += sample.value
            elif name.endswith(("_sum", "_count")) or "le" not in labels:
                values[name] += sample.value

    def summary(prefix: str) -> dict[str, Any]:
        return {"count": int(values[f"{prefix}_count"]), "sum": max(values[f"{prefix}_sum"], 0.0)}

    return {
        "http": {
            "requests": [
                {"operation": operation, "status": status, "count": int(count)}
                for (operation, status), count in sorted(requests.items())
            ],
            "latency_seconds_sum": values["runplane_http_request_duration_seconds_sum"],
        },
        "tasks": {status: int(n) for status, n in labelled["runplane_tasks"].items()},
        "queue_depth": int(values["runplane_queue_depth"]),
        "task_run_seconds": summary("runplane_task_run_duration_seconds"),
        "task_wait_seconds": summary("runplane_task_wait_duration_seconds"),
        "dispatch_latency_seconds": summary("runplane_task_dispatch_latency_seconds"),
        "workers": {state: int(n) for state, n in labelled["runplane_workers"].items()},
        "events": {
            "published": int(values["runplane_events_published_total"]),
            "dropped": int(sum(labelled["runplane_events_dropped_total"].values())),
        },
        "connections": {
            kind: int(labelled["runplane_live_connections"].get(kind, 0)) for kind in CONNECTION_KINDS
        },
        "timestamp": now or utcnow(),
    }
