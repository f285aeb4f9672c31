"""Waiting on conditions (never on fixed sleeps): poll until true, or fail with what was awaited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest


def poll(check: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.1) -> Any:
    """Calls ``check`` until it returns something truthy, and returns that; fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
    return found


async def until(check: Callable[[], Any], *, interval: float = 0.01) -> Any:
    """`poll` for async tests: awaits ``check()`` becoming truthy (the loop runs meanwhile) and returns it.
    The deadline is the caller's: bound it with ``asyncio.timeout``."""
    while True:
        if found := check():
            return found
        await asyncio.sleep(interval)
