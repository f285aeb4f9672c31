"""The log shipper's delivery rules: numbered batches, one in flight, retried, never abandoned mid-send."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from generated.models import LogBatch
from runplane.worker import client as api
from runplane.worker.logship import BatchRefused, LogBatcher, LogShipper, ShippingStopped

pytestmark = pytest.mark.unit


class Server:
    """Stores batches as the real server does (skips lines it has), and can fail on demand."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.requests: list[tuple[int, list[str]]] = []
        self.failures: list[BaseException] = []
        self.in_flight = 0
        self.overlapped = False
        self.delay = 0.0

    async def send(self, batch: LogBatch) -> None:
        self.in_flight += 1
        self.overlapped |= self.in_flight > 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            texts = [line.text for line in batch.lines]
            self.requests.append((batch.first_line, texts))
            if self.failures:
                raise self.failures.pop(0)
            stored = len(self.lines)
            if batch.first_line > stored:
                self.lines.append(f"<gap {batch.first_line - stored}>")
                stored = batch.first_line
            self.lines.extend(texts[max(0, stored - batch.first_line) :])
        finally:
            self.in_flight -= 1


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


@pytest.mark.anyio
async def test_batches_are_numbered_sent_on_time_and_the_tail_goes_out_on_close() -> None:
    server = Server()
    shipper = LogShipper(server.send, LogBatcher(max_lines=2, max_delay_seconds=0.05, attempt=3))
    shipper.start()
    await shipper.add("stdout", "1")
    await shipper.add("stdout", "2")  # full: sent at once
    assert server.requests == [(0, ["1", "2"])]
    await shipper.add("stdout", "3")
    for _ in range(500):
        if len(server.requests) == 2:
            break
        await asyncio.sleep(0.01)
    assert server.requests == [(0, ["1", "2"]), (2, ["3"])]  # sent by the timer
    await shipper.add("stdout", "4")
    await shipper.close()  # the tail, at once
    assert server.requests[-1] == (3, ["4"])
    assert server.lines == ["1", "2", "3", "4"]
    assert (shipper.sent_lines, shipper.dropped_lines) == (4, 0)


@pytest.mark.anyio
async def test_close_waits_for_the_batch_in_flight_instead_of_cancelling_it() -> None:
    # The old shipper cancelled its timer mid-request: that batch was lost, or reached the server cut short.
    server = Server()
    server.delay = 0.2
    shipper = LogShipper(server.send, LogBatcher(max_lines=100, max_delay_seconds=0.01))
    shipper.start()
    await shipper.add("stdout", "a")
    for _ in range(500):
        if server.in_flight:
            break
        await asyncio.sleep(0.005)
    assert server.in_flight == 1  # the timer's batch is on its way
    await shipper.add("stdout", "b")  # printed right before exit
    await shipper.close()
    assert server.lines == ["a", "b"]
    assert not server.overlapped  # one batch in flight at a time: they cannot overtake each other


@pytest.mark.anyio
async def test_a_failed_batch_is_retried_and_stored_once_even_when_it_got_through() -> None:
    server = Server()
    # The first try is stored, but its answer is lost; the second try fails outright; the third succeeds.
    original = server.send
    answers_lost = [True]

    async def send(batch: LogBatch) -> None:
        await original(batch)
        if answers_lost and answers_lost.pop():
            raise api.ApiUnavailable("read timeout")

    server.failures = []
    shipper = LogShipper(send, LogBatcher(max_lines=2), sleep=no_sleep)
    for text in ("1", "2", "3"):
        await shipper.add("stdout", text)
    server.failures.append(api.ServerError(503, "busy"))
    await shipper.close()
    assert server.lines == ["1", "2", "3"]
    assert [first for first, _ in server.requests] == [0, 0, 2, 2]
    assert shipper.retries == 2 and shipper.dropped_lines == 0


@pytest.mark.anyio
async def test_an_undeliverable_batch_is_dropped_loudly_and_the_log_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = Server()
    server.failures = [BatchRefused("400 VALIDATION_ERROR")]
    shipper = LogShipper(server.send, LogBatcher(max_lines=1), sleep=no_sleep, label="task t1")
    with caplog.at_level(logging.WARNING, logger="runplane.worker.logship"):
        await shipper.add("stdout", "lost")
        await shipper.add("stdout", "kept")
        await shipper.close()
    assert server.lines[:2] == ["<gap 1>", "kept"]
    assert "could not deliver 1 line(s)" in server.lines[2]
    assert (shipper.dropped_lines, shipper.sent_lines) == (1, 2)
    assert "task t1: dropped 1 log line(s) (lines 1-1 of attempt 1)" in caplog.text


@pytest.mark.anyio
async def test_retries_end_at_the_deadline() -> None:
    calls = 0

    async def send(batch: Any) -> None:
        nonlocal calls
        calls += 1
        raise api.ApiUnavailable("down")

    shipper = LogShipper(send, LogBatcher(max_lines=1), give_up_seconds=0.3, base_delay_seconds=0.01)
    await shipper.add("stdout", "x")
    assert calls >= 2 and shipper.dropped_lines == 1


@pytest.mark.anyio
async def test_a_task_that_is_no_longer_ours_stops_shipping() -> None:
    calls = 0

    async def send(batch: Any) -> None:
        nonlocal calls
        calls += 1
        raise ShippingStopped("409")

    shipper = LogShipper(send, LogBatcher(max_lines=1), sleep=no_sleep)
    await shipper.add("stdout", "x")
    await shipper.add("stdout", "y")
    await shipper.close()
    assert calls == 1 and shipper.stopped


def test_a_nul_in_output_is_replaced_so_the_batch_is_not_refused() -> None:
    batcher = LogBatcher()
    batcher.add("stdout", "a\x00b")
    batch = batcher.take()
    assert batch is not None and batch.lines[0].text == "a\ufffdb"
