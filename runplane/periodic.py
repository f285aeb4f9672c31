"""A background pass run every few seconds inside an API process (the reaper, the SQLite WAL checkpoint).

One home for the start/stop/loop of such passes: a pass that raises is logged and tried again on the next
tick (the database briefly away, a lost race), never ends the loop; `stop` cancels it and waits for it.
A pass may ask for a longer sleep than the interval (it found nothing to do until then): the loop then
sleeps that long unless `wake()` is called, and still never runs two passes closer than one interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

logger = logging.getLogger("runplane.periodic")


class Periodic:
    """Runs :meth:`run_once` every `interval` seconds (0: never) in an asyncio task named `name`.

    `run_first` runs a pass at once on start (the reaper); otherwise the first pass comes after one
    interval (the checkpoint, which has nothing to do at start). Subclasses implement `run_once` and may
    narrow `enabled`.
    """

    name = "runplane-periodic"
    run_first = True

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._woken = asyncio.Event()
        self._loop_of: asyncio.AbstractEventLoop | None = None

    @property
    def enabled(self) -> bool:
        """Whether `start` starts the loop."""
        return self.interval > 0

    async def run_once(self) -> float | None:
        """One pass (subclasses): None to run again after `interval`, or the seconds it may sleep before
        the next pass (more than `interval`: until then or until `wake()`)."""
        raise NotImplementedError

    def wake(self) -> None:
        """Ends a longer sleep asked for by the last pass (the next pass still waits out `interval`).

        Safe from any thread and when the loop is not running."""
        loop = self._loop_of
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._woken.set()
        else:
            loop.call_soon_threadsafe(self._woken.set)

    def start(self) -> None:
        """Starts the loop in the running event loop (once; again after `stop`)."""
        if self.enabled and self._task is None:
            self._loop_of = asyncio.get_running_loop()
            self._woken = asyncio.Event()
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """Cancels the loop and waits for it to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        if not self.run_first:
            await asyncio.sleep(self.interval)
        clock = asyncio.get_running_loop()
        while True:
            self._woken.clear()  # a wake-up during the pass is kept: it may concern what the pass read
            sleep: float | None = None
            try:
                sleep = await self.run_once()
            except Exception:
                logger.exception("%s: pass failed; trying again in %s s", self.name, self.interval)
            ended = clock.time()
            if sleep is not None and sleep > self.interval:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(sleep):
                        await self._woken.wait()
            rest = self.interval - (clock.time() - ended)
            if rest > 0:
                await asyncio.sleep(rest)
