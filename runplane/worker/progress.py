"""Progress lines from a task's stdout, and the throttle that decides when to report them.

A task reports progress by printing ``::progress <percent> [message]`` (``runplane.task.progress`` prints
exactly that). The worker parses every stdout line with :func:`parse_progress_line` and feeds hits to a
:class:`ProgressTracker`, which keeps progress monotonic and limits how often it reaches the API.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable

from runplane.task import PROGRESS_PREFIX

# The number is what Python's float formatting can print (``runplane.task`` uses ``:g``: "1e-05" included).
_PROGRESS_RE = re.compile(
    rf"^\s*{re.escape(PROGRESS_PREFIX)}[ \t]+"
    r"(?P<percent>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
    r"(?:[ \t]+(?P<message>.*?))?\s*$"
)


def _clamp(percent: float) -> float:
    return max(0.0, min(100.0, percent))


def parse_progress_line(line: str) -> tuple[float, str | None] | None:
    """``(percent clamped to 0..100, message or None)`` for a progress line, ``None`` for any other line."""
    match = _PROGRESS_RE.match(line)
    if match is None:
        return None
    percent = float(match.group("percent"))
    if not math.isfinite(percent):
        return None
    return _clamp(percent), (match.group("message") or None)


class ProgressTracker:
    """Monotonic, throttled progress for one task.

    ``update`` records a value and answers whether it should be sent now: at most one report per
    ``min_interval_seconds``, and only when something changed. A throttled value stays ``pending`` until the
    caller sends it (``flush``), so the last value is never lost; ``seconds_until_due`` tells a caller
    with a timer when to flush. ``complete`` moves to 100 and is always sent.

    Progress never goes down: a lower percentage keeps the highest one seen, though its message (even
    ``None``) replaces the previous message, since it describes what the task is doing now.
    """

    def __init__(
        self, *, min_interval_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if min_interval_seconds < 0:
            raise ValueError("min_interval_seconds must not be negative")
        self._interval = min_interval_seconds
        self._clock = clock
        self._percent = 0.0
        self._message: str | None = None
        self._sent: tuple[float, str | None] | None = None
        self._sent_at: float | None = None

    @property
    def percent(self) -> float:
        return self._percent

    @property
    def message(self) -> str | None:
        return self._message

    @property
    def current(self) -> tuple[float, str | None]:
        return self._percent, self._message

    def update(self, percent: float, message: str | None = None) -> bool:
        """Record a report; ``True`` when ``current`` should be sent now (it then counts as sent)."""
        if math.isfinite(percent):
            self._percent = max(self._percent, _clamp(percent))
        self._message = message
        if self.pending() is None:
            return False
        now = self._clock()
        if self._sent_at is not None and now - self._sent_at < self._interval:
            return False
        self._mark_sent(now)
        return True

    def pending(self) -> tuple[float, str | None] | None:
        """The current value if it has not been sent yet, else ``None``."""
        return None if self.current == self._sent else self.current

    def seconds_until_due(self) -> float | None:
        """How long until a pending value may be sent (0 when it may be now); ``None`` if nothing pends."""
        if self.pending() is None:
            return None
        if self._sent_at is None:
            return 0.0
        return max(0.0, self._sent_at + self._interval - self._clock())

    def flush(self) -> tuple[float, str | None] | None:
        """The pending value, now counted as sent regardless of the throttle; ``None`` if nothing pends."""
        value = self.pending()
        if value is not None:
            self._mark_sent(self._clock())
        return value

    def complete(self, message: str | None = None) -> tuple[float, str | None]:
        """Move to 100 and return the value to send now (the throttle does not apply to the end)."""
        self._percent = 100.0
        if message is not None:
            self._message = message
        self._mark_sent(self._clock())
        return self.current

    def _mark_sent(self, now: float) -> None:
        self._sent = self.current
        self._sent_at = now
