"""runplane.periodic: the loop of the background passes (reaper, WAL checkpoint)."""

from __future__ import annotations

import asyncio

import pytest

from runplane.periodic import Periodic

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


class Counting(Periodic):
    name = "test-periodic"

    def __init__(self, interval: float, *, fail_first: bool = False, run_first: bool = True) -> None:
        super().__init__(interval)
        self.run_first = run_first
        self.passes = 0
        self.fail_first = fail_first

    async def run_once(self) -> float | None:
        self.passes += 1
        if self.fail_first and self.passes == 1:
            raise RuntimeError("database briefly away")
        return None


async def until(condition, within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_failed_pass_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    loop = Counting(0.01, fail_first=True)
    loop.start()
    try:
        await until(lambda: loop.passes >= 3)
    finally:
        await loop.stop()
    assert "test-periodic: pass failed" in caplog.text


async def test_stop_ends_the_loop_and_start_again_restarts_it() -> None:
    loop = Counting(0.01)
    loop.start()
    await until(lambda: loop.passes >= 1)
    await loop.stop()
    stopped_at = loop.passes
    await asyncio.sleep(0.05)
    assert loop.passes == stopped_at
    loop.start()
    await until(lambda: loop.passes > stopped_at)
    await loop.stop()


async def test_an_interval_of_zero_never_starts() -> None:
    loop = Counting(0)
    loop.start()
    await asyncio.sleep(0.02)
    assert loop.passes == 0
    await loop.stop()


async def test_without_run_first_the_first_pass_waits_an_interval() -> None:
    loop = Counting(3600, run_first=False)
    loop.start()
    await asyncio.sleep(0.05)
    assert loop.passes == 0
    await loop.stop()


class Sleepy(Counting):
    """Asks for an hour's sleep after each pass."""

    async def run_once(self) -> float | None:
        await super().run_once()
        return 3600.0


async def test_a_pass_that_asks_for_a_long_sleep_sleeps_until_woken() -> None:
    loop = Sleepy(0.01)
    loop.start()
    try:
        await until(lambda: loop.passes >= 1)
        assert loop.passes == 1  # asleep: the hour is not over
        loop.wake()
        await until(lambda: loop.passes >= 2)
    finally:
        await loop.stop()
