"""Shipping a task's output lines to the API in batches.

One request per line would cost a round trip per ``print``; one per task would show nothing live. Lines are
therefore gathered and sent when a batch is full (by count, or by the size of its JSON body, kept well
under the server's body limit) or when its oldest line has waited ``max_delay_seconds``. Closing the
shipper sends everything still buffered, so the tail of a task's output is never lost to a timer.

Lines arrive already masked (:class:`runplane.worker.masking.SecretMasker` runs first). A batch the API
refuses for good is logged and dropped rather than held: memory stays bounded and the task goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= max_lines <= MAX_BATCH_LINES:
            raise ValueError(f"max_lines must be within 1..{MAX_BATCH_LINES}")
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.max_delay_seconds = max_delay_seconds
        self._clock = clock
        self._lines: list[LogLine] = []
        self._sizes: list[int] = []
        self._bytes = 0
        self._oldest: float | None = None

    def __len__(self) -> int:
        return len(self._lines)

    def add(self, stream: str, text: str) -> bool:
        """Buffer one line; ``True`` when a full batch is ready to send now."""
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
        """The next batch (oldest lines first, within the count and size limits); ``None`` when empty."""
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
        batch = LogBatch(lines=self._lines[:count])
        del self._lines[:count]
        del self._sizes[:count]
        self._bytes -= size
        self._oldest = self._clock() if self._lines else None
        return batch


class LogShipper:
    """Feeds a :class:`LogBatcher` and sends its batches in order, from a timer and when they fill up."""

    def __init__(self, send: SendBatch, batcher: LogBatcher) -> None:
        self._send = send
        self._batcher = batcher
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self.sent_lines = 0
        self.dropped_lines = 0

    def start(self) -> None:
        self._timer = asyncio.ensure_future(self._run_timer())

    async def add(self, stream: str, text: str) -> None:
        if self._batcher.add(stream, text):
            # Sending here, in the output callback, slows a very chatty task down instead of buffering
            # without bound.
            await self._flush(everything=False)
        else:
            self._wake.set()

    async def close(self) -> None:
        """Stop the timer and send every buffered line."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
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
        try:
            await self._send(batch)
        except Exception as exc:
            # The task must not fail because its log could not be stored; say so in the worker's log.
            self.dropped_lines += len(batch.lines)
            logger.warning("dropped %d log line(s): %s", len(batch.lines), exc)
        else:
            self.sent_lines += len(batch.lines)
