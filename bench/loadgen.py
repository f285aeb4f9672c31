"""A small closed-loop HTTP/1.1 load generator: N keep-alive connections, one request in flight on each.

Pure Python on purpose, so `make bench` needs nothing beyond the venv (no wrk). The client shares the
machine's cores with the server it measures, so it is kept as cheap as Python allows: raw asyncio streams
on uvloop (no HTTP client library), request bytes built with one formatting step, responses framed by
Content-Length (chunked is handled, but uvicorn sends Content-Length for every body here) and not parsed
further. What it costs is measured, not assumed: every phase reports the client's own CPU time per
request, so a figure near the client's ceiling can be recognised as such.

Everything is bounded: a phase stops issuing requests at its deadline or after `max_requests`, whichever
comes first; a connection that keeps failing gives up after `MAX_RECONNECTS`; and a request still in
flight `GRACE_SECONDS` after the deadline is cancelled and counted as an error. It only ever connects to
the host and port it is given (the benches pass 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import os
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

# A connection that cannot be re-established this many times in one phase stops (the server is gone).
MAX_RECONNECTS = 20
# How long after the deadline an in-flight request may still finish before it is cancelled.
GRACE_SECONDS = 10.0
_HEADER_LIMIT = 64 * 1024
# Pause between opening two connections of a phase (see _open_staggered): long enough for the worker
# that accepted one to be back waiting; 32 connections take 0.16 s, outside the measured time.
STAGGER_SECONDS = 0.005


class ProtocolError(Exception):
    """The server's answer could not be framed (no Content-Length and not chunked)."""


@dataclass(frozen=True)
class Scenario:
    """One kind of request. `build(n)` returns the raw request bytes for the n-th request of the phase."""

    name: str
    build: Callable[[int], bytes]


def get_request(
    host: str, port: int, path: str, headers: dict[str, str] | None = None
) -> Callable[[int], bytes]:
    """The same bytes for every request: built once."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    raw = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode()
    return lambda _n: raw


def post_json_request(
    host: str, port: int, path: str, body: Callable[[int], bytes], headers: dict[str, str] | None = None
) -> Callable[[int], bytes]:
    """A distinct body per request (`body(n)`), behind a header block formatted once."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}Content-Type: application/json\r\n"

    def build(n: int) -> bytes:
        payload = body(n)
        return b"%sContent-Length: %d\r\n\r\n%s" % (head.encode(), len(payload), payload)

    return build


@dataclass
class PhaseResult:
    scenario: str
    connections: int
    elapsed_s: float
    latencies_s: array[float] = field(default_factory=lambda: array("d"))
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    #: CPU seconds of each server process, in the order given to run_phase (to see how evenly load spread).
    server_cpu_by_process: list[float] = field(default_factory=list)
    machine_busy_s: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies_s)

    @property
    def errors(self) -> int:
        """Every answer that is not 2xx, plus requests that got no answer at all."""
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300) + sum(
            self.transport_errors.values()
        )

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def other_cpu_s(self) -> float:
        """CPU time the machine spent on anything but this client and the measured server (noise)."""
        return max(0.0, self.machine_busy_s - self.client_cpu_s - self.server_cpu_s)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (NaN when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Reads one response; returns its status and whether the server will close the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    start = lower.find(b"\r\ncontent-length:")
    if start >= 0:
        end = lower.index(b"\r\n", start + 2)
        length = int(head[start + 17 : end])
        if length:
            await reader.readexactly(length)
    elif b"\r\ntransfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            await reader.readexactly(size + 2)  # the chunk and its CRLF (after the last, the final CRLF)
            if size == 0:
                break
    elif status not in (204, 304):
        raise ProtocolError(f"unframed response: {head[:200]!r}")
    return status, b"\r\nconnection: close" in lower


class _Budget:
    """The phase's shared bounds: a deadline and a count of requests left to issue."""

    def __init__(self, stop_at: float, max_requests: int) -> None:
        self.stop_at = stop_at
        self.left = max_requests
        self.issued = 0

    def take(self) -> int | None:
        """The index of the next request, or None when the phase is over."""
        if self.left <= 0 or time.perf_counter() >= self.stop_at:
            return None
        self.left -= 1
        self.issued += 1
        return self.issued


Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _open_staggered(host: str, port: int, count: int) -> list[Streams | None]:
    """Opens the phase's connections one at a time, before its clock starts.

    gunicorn's workers all wait on one shared listening socket and each accepts whatever is queued when
    it wakes, so a burst of connects tends to land on a single worker, where the keep-alive connections
    then stay for the whole phase (seen here: a 0/100 split of the work). One connect at a time, with the
    workers idle, makes each an even race between them, as it is for clients arriving over time.
    """
    opened: list[Streams | None] = []
    for _ in range(count):
        try:
            opened.append(await asyncio.open_connection(host, port, limit=_HEADER_LIMIT))
        except OSError:
            opened.append(None)  # the connection's loop tries again, and counts the error if it fails
        await asyncio.sleep(STAGGER_SECONDS)
    return opened


async def _connection(
    host: str,
    port: int,
    scenario: Scenario,
    budget: _Budget,
    result: PhaseResult | None,
    streams: Streams | None,
) -> None:
    """One keep-alive connection issuing requests back to back until the budget says stop."""
    reconnects = 0
    reader, writer = streams if streams is not None else (None, None)
    latencies = result.latencies_s if result is not None else None
    statuses = result.statuses if result is not None else None
    try:
        while True:
            if writer is None:
                if time.perf_counter() >= budget.stop_at:
                    return
                try:
                    reader, writer = await asyncio.open_connection(host, port, limit=_HEADER_LIMIT)
                except OSError as exc:
                    if result is not None:
                        result.transport_errors[f"connect: {type(exc).__name__}"] += 1
                    reconnects += 1
                    if reconnects > MAX_RECONNECTS:
                        return
                    await asyncio.sleep(0.05)
                    continue
            assert reader is not None
            n = budget.take()
            if n is None:
                return
            request = scenario.build(n)
            started = time.perf_counter()
            try:
                writer.write(request)
                status, close = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ProtocolError) as exc:
                if result is not None:
                    result.transport_errors[type(exc).__name__] += 1
                writer.close()
                writer = None
                reconnects += 1
                if reconnects > MAX_RECONNECTS:
                    return
                continue
            if latencies is not None and statuses is not None:
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1
            if close:
                writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.close()


def _cpu_seconds(processes: list[psutil.Process]) -> list[float]:
    """Each process's user + system CPU seconds (its threads', the database driver's included)."""
    seconds = []
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            seconds.append(0.0)
            continue
        seconds.append(times.user + times.system)
    return seconds


def _machine_busy_seconds() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


async def run_phase(
    host: str,
    port: int,
    scenario: Scenario,
    *,
    connections: int,
    duration_s: float,
    max_requests: int,
    server_processes: list[psutil.Process],
    record: bool = True,
) -> PhaseResult:
    """Runs `connections` closed loops for `duration_s` (or `max_requests`); returns what was measured.

    With `record=False` (a warm-up) nothing is kept but the elapsed time.
    """
    result = PhaseResult(scenario=scenario.name, connections=connections, elapsed_s=0.0)
    opened = await _open_staggered(host, port, connections)
    started = time.perf_counter()
    budget = _Budget(started + duration_s, max_requests)
    client_cpu, server_cpu, busy = (
        time.process_time(),
        _cpu_seconds(server_processes),
        _machine_busy_seconds(),
    )
    tasks = [
        asyncio.create_task(_connection(host, port, scenario, budget, result if record else None, streams))
        for streams in opened
    ]
    done, pending = await asyncio.wait(tasks, timeout=duration_s + GRACE_SECONDS)
    for task in pending:
        task.cancel()
        result.transport_errors["timeout"] += 1
    if pending:
        await asyncio.wait(pending)
    for task in done:
        if task.exception() is not None:
            result.transport_errors[f"client: {type(task.exception()).__name__}"] += 1
    result.elapsed_s = time.perf_counter() - started
    result.client_cpu_s = time.process_time() - client_cpu
    result.server_cpu_by_process = [
        after - before for after, before in zip(_cpu_seconds(server_processes), server_cpu, strict=True)
    ]
    result.server_cpu_s = sum(result.server_cpu_by_process)
    result.machine_busy_s = _machine_busy_seconds() - busy
    return result


def event_loop_factory() -> tuple[str, Callable[[], asyncio.AbstractEventLoop]]:
    """uvloop when installed (it is in the venv, via uvicorn[standard]): the client's CPU is the server's."""
    try:
        import uvloop
    except ImportError:
        return "asyncio", asyncio.new_event_loop
    return "uvloop", uvloop.new_event_loop


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
