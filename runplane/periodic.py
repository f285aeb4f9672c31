"""A background pass run every few seconds inside an API process (the reaper, the SQLite WAL checkpoint).

One home for the start/stop/loop of such passes: a pass that raises is logged and tried again on the next
tick (the database briefly away, a lost race), never ends the loop; `stop` cancels it and waits for it.
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

    @property
    def enabled(self) -> bool:
        """Whether `start` starts the loop."""
        return self.interval > 0

    async def run_once(self) -> None:
        """One pass (subclasses)."""
        raise NotImplementedError

    def start(self) -> None:
        """Starts the loop in the running event loop (once; again after `stop`)."""
        if self.enabled and self._task is None:
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
        while True:
            try:
                await self.run_once()
            except Exception:
                logger.exception("%s: pass failed; trying again in %s s", self.name, self.interval)
            await asyncio.sleep(self.interval)
