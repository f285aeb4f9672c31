"""Shipping a task's output lines to the API in batches, every line once and in order.

One request per line would cost a round trip per ``print``; one per task would show nothing live. Lines are
therefore gathered and sent when a batch is full (by count, or by the size of its JSON body, kept well
under the server's body limit) or when its oldest line has waited ``max_delay_seconds``.

The guarantee (issue 7, item 1): every line reaches the server, in order, before :meth:`LogShipper.close`
returns, and the task's end is reported only after that. To keep it:

* Batches are numbered: each carries its attempt and the index of its first line (``first_line``), so the
  server stores a batch sent again exactly once. That makes retrying safe, also when a request may have
  reached the server before its answer was lost.
* One batch is in flight at a time, whoever sends it (the timer, a full batch, ``close``), under one lock;
  ``close`` takes that lock before it stops the timer, so a batch is never abandoned half-sent. (The old
  shipper cancelled the timer mid-request: the server got a body cut short, answered 400, and the lines
  were gone without a word; a batch could also overtake the one cancelled under it.)
* A batch that fails is retried with exponential backoff (with jitter) for up to ``give_up_seconds``. A
  batch the server refuses for good (400: a bug), or that still fails then, is dropped with a warning in
  the worker's log; the server marks the gap in the task's log when the next batch arrives, and ``close``
  sends a closing note when lines were dropped, so a gap is never silent.
* A 404/409 (the task is no longer this worker's) stops shipping: there is nobody to ship to.

Lines arrive already masked (:class:`runplane.worker.masking.SecretMasker` runs first).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable

from generated.models import LogBatch, LogLine, Stream

logger = logging.getLogger(__name__)

# The contract's bounds on a LogBatch / LogLine.
MAX_BATCH_LINES = 2000
MAX_LINE_CHARS = 65536
# Envelope of one line in the JSON body: {"stream":"stdout","text":...}, plus the separating comma.
_LINE_OVERHEAD_BYTES = 32

SendBatch = Callable[[LogBatch], Awaitable[None]]


class BatchRefused(Exception):
    """The server refused this batch for good (a 4xx other than 404/409): sending it again cannot help."""


class ShippingStopped(Exception):
    """The task is no longer this worker's (404/409): stop shipping its output altogether."""


def encoded_size(text: str) -> int:
    """Bytes ``text`` takes as a JSON string, counted as the worst case (ASCII-escaped) encoding."""
    return len(json.dumps(text)) + _LINE_OVERHEAD_BYTES


class LogBatcher:
    """The pure batching rule: no I/O, an injectable clock."""

    def __init__(
        self,
        *,
        max_lines: int = 500,
        max_bytes: int = 256 * 1024,
        max_delay_seconds: float = 0.5,
        attempt: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= max_lines <= MAX_BATCH_LINES:
            raise ValueError(f"max_lines must be within 1..{MAX_BATCH_LINES}")
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.max_delay_seconds = max_delay_seconds
        self.attempt = attempt
        self._clock = clock
        # Index, within the attempt's output, of the first buffered line.
        self._next_index = 0
        self._lines: list[LogLine] = []
        self._sizes: list[int] = []
        self._bytes = 0
        self._oldest: float | None = None

    def __len__(self) -> int:
        return len(self._lines)

    def add(self, stream: str, text: str) -> bool:
        """Buffer one line; ``True`` when a full batch is ready to send now.

        A NUL becomes U+FFFD, as bytes that are not UTF-8 already have (the process reader decodes with
        ``errors="replace"``): text fields refuse NUL (PostgreSQL cannot store it), and a batch refused for
        one character would lose every line in it.
        """
        text = text.replace("\x00", "\ufffd")
        if len(text) > MAX_LINE_CHARS:
            text = text[:MAX_LINE_CHARS]
        size = encoded_size(text)
        self._lines.append(LogLine(stream=Stream(stream), text=text))
        self._sizes.append(size)
        self._bytes += size
        if self._oldest is None:
            self._oldest = self._clock()
        return self.full()

    def full(self) -> bool:
        return len(self._lines) >= self.max_lines or self._bytes >= self.max_bytes

    def seconds_until_due(self) -> float | None:
        """How long until the buffered lines must be sent (0 = now); ``None`` when nothing is buffered."""
        if self._oldest is None:
            return None
        return max(0.0, self._oldest + self.max_delay_seconds - self._clock())

    def take(self) -> LogBatch | None:
        """The next batch (oldest lines first, within the count and size limits); ``None`` when empty.

        Its ``first_line`` is the index of its first line among all lines ever added.
        """
        if not self._lines:
            return None
        count = 0
        size = 0
        # At least one line per batch, however long (a line alone is within the server's limit).
        while count < len(self._lines) and count < self.max_lines:
            if count and size + self._sizes[count] > self.max_bytes:
                break
            size += self._sizes[count]
            count += 1
        batch = LogBatch(attempt=self.attempt, first_line=self._next_index, lines=self._lines[:count])
        self._next_index += count
        del self._lines[:count]
        del self._sizes[:count]
        self._bytes -= size
        self._oldest = self._clock() if self._lines else None
        return batch


class LogShipper:
    """Feeds a :class:`LogBatcher` and delivers its batches in order, from a timer and when they fill up.

    ``send`` delivers one batch; it raises :class:`BatchRefused` or :class:`ShippingStopped` as above, and
    anything else for a failure worth retrying. ``sleep`` and ``give_up_seconds`` bound the retries.
    """

    def __init__(
        self,
        send: SendBatch,
        batcher: LogBatcher,
        *,
        give_up_seconds: float = 120.0,
        base_delay_seconds: float = 0.25,
        max_delay_seconds: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        label: str = "task",
    ) -> None:
        self._send = send
        self._batcher = batcher
        self._give_up_seconds = give_up_seconds
        self._base_delay = base_delay_seconds
        self._max_delay = max_delay_seconds
        self._sleep = sleep
        self._label = label
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self.stopped = False
        self.sent_lines = 0
        self.dropped_lines = 0
        self.retries = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self._timer = asyncio.ensure_future(self._run_timer())

    async def add(self, stream: str, text: str) -> None:
        if self.stopped:
            return
        if self._batcher.add(stream, text):
            # Sending here, in the output callback, slows a very chatty task down instead of buffering
            # without bound.
            await self._flush(everything=False)
        else:
            self._wake.set()

    async def close(self) -> None:
        """Stop the timer and deliver every buffered line; returns once all of them are delivered or given up.

        When lines were dropped on the way, a closing note says so in the task's log (and so the server
        marks the gap even when the last batch was the one lost).
        """
        # Under the lock no batch is in flight: the timer is waiting or sleeping, and cancelling it loses
        # nothing.
        async with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._timer
                self._timer = None
        await self._flush(everything=True)
        if self.dropped_lines and not self.stopped:
            self._batcher.add(
                "stderr",
                f"[runplane] the worker could not deliver {self.dropped_lines} line(s) of this task's output "
                f"({self.last_error})",
            )
            dropped = self.dropped_lines
            await self._flush(everything=True)
            self.dropped_lines = dropped

    async def note(self, text: str) -> None:
        """Add one ``stderr`` line from the worker itself and deliver it now; usable after :meth:`close`
        (how the worker tells a task's log about outputs it renamed or skipped)."""
        if self.stopped:
            return
        self._batcher.add("stderr", text)
        await self._flush(everything=True)

    async def _run_timer(self) -> None:
        while True:
            delay = self._batcher.seconds_until_due()
            if delay is None:
                await self._wake.wait()
                self._wake.clear()
                continue
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            # Every buffered line arrived before the oldest one fell due: send them all.
            await self._flush(everything=True)

    async def _flush(self, *, everything: bool) -> None:
        """Send batches in order: all of them, or only while a full one is ready."""
        async with self._lock:
            while everything or self._batcher.full():
                batch = self._batcher.take()
                if batch is None:
                    return
                await self._deliver(batch)

    async def _deliver(self, batch: LogBatch) -> None:
        count = len(batch.lines)
        if self.stopped:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._give_up_seconds
        failures = 0
        while True:
            try:
                await self._send(batch)
            except ShippingStopped:
                self.stopped = True
                return
            except BatchRefused as exc:
                error = f"refused: {exc}"
                break
            except Exception as exc:
                failures += 1
                error = f"{type(exc).__name__}: {exc}"
                ceiling = min(self._max_delay, self._base_delay * 2 ** (failures - 1))
                delay = random.uniform(ceiling / 2, ceiling)
                if loop.time() + delay > deadline:
                    break
                self.retries += 1
                logger.info(
                    "%s: log batch from line %d not delivered (%s); retrying in %.2fs",
                    self._label,
                    batch.first_line,
                    error,
                    delay,
                )
                await self._sleep(delay)
            else:
                self.sent_lines += count
                return
        self.dropped_lines += count
        self.last_error = error
        logger.warning(
            "%s: dropped %d log line(s) (lines %d-%d of attempt %d): %s",
            self._label,
            count,
            batch.first_line + 1,
            batch.first_line + count,
            batch.attempt,
            error,
        )
