"""SQLite's wake-ups between server processes (runplane.live.siblings): a real second process, real
sockets; the parent's send wakes it, and a dead process's registration is removed."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from pathlib import Path

import pytest

from runplane.live import siblings
from runplane.live.siblings import SiblingWakeups

pytestmark = [pytest.mark.unit, pytest.mark.anyio]

KEY = "sqlite+aiosqlite:////tmp/siblings-test.sqlite3"

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from runplane.live.siblings import SiblingWakeups

    async def main() -> None:
        woken = asyncio.Event()
        channel = SiblingWakeups(Path(sys.argv[1]), sys.argv[2])
        channel.open(woken.set)
        print("ready", flush=True)
        await asyncio.wait_for(woken.wait(), 120)
        channel.close()
        print("woken", flush=True)

    asyncio.run(main())
    """
)


async def test_a_send_wakes_another_process_and_forgets_dead_ones(tmp_path: Path) -> None:
    directory = tmp_path / "wake"
    channel = SiblingWakeups(directory, KEY)
    channel.open(lambda: None)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(directory), KEY, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        assert (await asyncio.wait_for(child.stdout.readline(), 120)).strip() == b"ready"
        assert (directory / str(child.pid)).exists()
        (directory / "4194999").touch()  # a registration whose process is gone
        channel.send()
        assert (await asyncio.wait_for(child.stdout.readline(), 120)).strip() == b"woken"
        assert await asyncio.wait_for(child.wait(), 120) == 0
        assert not (directory / "4194999").exists()
        assert not (directory / str(child.pid)).exists()  # the child unregistered as it closed
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        channel.close()
    assert not (directory / str(os.getpid())).exists()


async def test_without_a_socket_it_carries_on(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    channel = SiblingWakeups(blocked / "wake", KEY)
    channel.open(lambda: None)  # logs a warning; the hub polls instead
    channel.send()
    channel.close()


async def test_a_process_started_after_a_listing_is_woken_once_the_listing_is_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "wake"
    channel = SiblingWakeups(directory, KEY)
    channel.open(lambda: None)
    channel.send()  # lists the registry: nobody else yet
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(directory), KEY, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        assert (await asyncio.wait_for(child.stdout.readline(), 120)).strip() == b"ready"
        monkeypatch.setattr(siblings, "RELIST_SECONDS", 0.0)  # the listing is old now
        channel.send()
        assert (await asyncio.wait_for(child.stdout.readline(), 120)).strip() == b"woken"
        assert await asyncio.wait_for(child.wait(), 120) == 0
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        channel.close()
