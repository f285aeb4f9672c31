"""Wake-ups for long-poll claims: "a task was queued", as this server process learns it.

The process's `EventHub` reads every committed event (woken by PostgreSQL NOTIFY, or by its own polling on
SQLite) and calls `Arrivals.notify()` for each task that became `queued` (submitted, or requeued), whichever
process queued it, and for each change of a worker's status (a drained or lost worker's waiting claim
ends at once). A waiting claim only takes this as a hint to try again at once: the claim itself, and a
periodic re-check while waiting, are the truth (a missed notification costs latency, never a task) — the
rule procrastinate follows for its workers (NOTIFY is a hint, polling the truth).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Arrivals:
    """A generation counter of queued-task notifications that waiting claims can await.

    Take `generation` before looking for work, then `wait(seen, seconds)`: it returns at once when a
    notification came in between, so none is lost between the look and the wait.
    """

    def __init__(self) -> None:
        self.generation = 0
        self.closed = False
        self.waiting = 0
        """Claims waiting now (the hub keeps reading the event log on its clock while there are any)."""
        self.on_wait: Callable[[], None] | None = None
        """Called when a claim starts waiting (the hub's `wake`, so a quiet hub reads the log again)."""
        self._changed = asyncio.Event()

    def notify(self) -> None:
        """A task was queued: wake every waiting claim."""
        self.generation += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def close(self) -> None:
        """The process is stopping: end every wait now, and make later waits return at once."""
        self.closed = True
        self.notify()

    async def wait(self, seen: int, seconds: float) -> bool:
        """Until a notification after generation `seen`, or `seconds` pass; whether one came (or closed)."""
        if self.generation != seen or self.closed:
            return True
        changed = self._changed
        waiter = asyncio.ensure_future(changed.wait())
        self.waiting += 1
        if self.on_wait is not None:
            self.on_wait()
        try:
            await asyncio.wait([waiter], timeout=seconds)
        finally:
            self.waiting -= 1
            waiter.cancel()
        return changed.is_set()
