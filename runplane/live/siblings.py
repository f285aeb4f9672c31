"""SQLite's NOTIFY: a commit that wrote events wakes the event readers of the other server processes.

On PostgreSQL every process LISTENs for the commit's ``pg_notify`` (`runplane.store.notify`). SQLite has
no such channel, so a process learned of another process's commits only at its next poll
(`event_poll_seconds`, 0.2 s): a task submitted through one gunicorn worker reached an idle worker agent
waiting in a long-poll claim on the other only then (~100 ms on average, against ~10 ms within one
process). The processes of one SQLite server are on one host, so a datagram does it:

- each process binds a Unix datagram socket in Linux's abstract namespace (no file, nothing to clean up
  when the process dies), named by a hash of the database's URL and its pid, and registers its pid as an
  empty file in ``<data_dir>/run/wake/``;
- after each commit that wrote events (a listener of `runplane.store.notify`), it sends one empty
  datagram to every other registered process, non-blocking; a pid whose socket is gone (a process that
  died) has its file removed. The registry is listed again at most every `RELIST_SECONDS` (a listing per
  commit was a directory read on the hottest write path): a process started since is woken from then on,
  and polls until then;
- a datagram received wakes this process's hub, which reads the log at once (its `MIN_POLL_GAP` bounds
  how often).

Like NOTIFY it is a hint: a lost datagram (a full receive buffer, a process starting) only delays delivery
until the next poll, never loses an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

logger = logging.getLogger("runplane.live")

RELIST_SECONDS: Final = 1.0
"""How long a listing of the registry's pids serves `send` before the directory is read again."""


class SiblingWakeups:
    """The wake-up channel between the server processes sharing one SQLite database (see the module).

    `directory` holds the registry (created 0700); `key` names the database (its URL). `open()` starts
    receiving (calling `on_wake()` on the event loop); `send()` wakes the others; `close()` stops.
    """

    def __init__(self, directory: Path, key: str) -> None:
        self.directory = directory
        self._prefix = b"\0runplane-wake/" + hashlib.sha256(key.encode()).hexdigest()[:24].encode() + b"/"
        self._pid = os.getpid()
        self._socket: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._others: list[int] = []  # the other registered pids, as last listed
        self._listed_at = float("-inf")  # time.monotonic() of that listing

    def _address(self, pid: int) -> bytes:
        return self._prefix + str(pid).encode()

    def open(self, on_wake: Callable[[], None]) -> None:
        """Binds this process's socket and registers it; `on_wake()` runs on the running loop for each
        burst of datagrams. Logs and carries on without the channel when the socket cannot be made."""
        self._pid = os.getpid()  # a gunicorn worker opens it after the fork
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            receiver.setblocking(False)
            receiver.bind(self._address(self._pid))
            (self.directory / str(self._pid)).touch()
        except OSError as exc:
            receiver.close()
            # EADDRINUSE: another app of this process has the channel already (its commits wake this one
            # through the in-process listeners).
            logger.log(
                logging.DEBUG
                if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE
                else logging.WARNING,
                "no wake-up channel between server processes; they poll",
                exc_info=True,
            )
            return
        loop = asyncio.get_running_loop()

        def readable() -> None:
            with contextlib.suppress(OSError):
                while receiver.recv(1) is not None:  # drain the burst: one wake-up serves them all
                    pass
            on_wake()

        loop.add_reader(receiver.fileno(), readable)
        self._socket, self._loop = receiver, loop

    def send(self) -> None:
        """Wakes every other registered process (never blocks, never raises)."""
        sender = self._socket
        if sender is None:
            return
        if time.monotonic() - self._listed_at >= RELIST_SECONDS:
            try:
                names = os.listdir(self.directory)
            except OSError:
                return
            self._others = [int(name) for name in names if name.isdigit() and int(name) != self._pid]
            self._listed_at = time.monotonic()
        for pid in tuple(self._others):
            try:
                sender.sendto(b"", self._address(pid))
            except (ConnectionRefusedError, FileNotFoundError):
                # Nobody is bound there: a process that died without unregistering.
                self._others.remove(pid)
                with contextlib.suppress(OSError):
                    (self.directory / str(pid)).unlink()
            except OSError:  # a full receive buffer: that process has a wake-up pending already
                pass

    def close(self) -> None:
        """Stops receiving and unregisters this process."""
        receiver, self._socket = self._socket, None
        if receiver is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(receiver.fileno())
        receiver.close()
        with contextlib.suppress(OSError):
            (self.directory / str(self._pid)).unlink()
