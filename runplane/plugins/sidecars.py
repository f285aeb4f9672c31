"""Sidecars: the plugins' servers (`mlflow server`, `tensorboard`) that runplane runs for the fleet.

One server process supervises them. Every API process runs a :class:`SidecarSupervisor`; the one that
holds an exclusive ``flock`` on ``<data_dir>/plugins/supervisor.lock`` is the supervisor, the others
retry the lock every poll (so a new one takes over when the supervisor's process dies: the kernel drops a
dead process's lock). Every ``poll_seconds`` the supervisor reads the plugins' configurations from the
database (an admin may change them through any process), and makes the processes match: starts a sidecar
that should run, restarts one that died (a crash is logged with its exit status; restarts back off up to
a minute), restarts one whose command line changed, and stops one whose plugin was disabled. On shutdown
it stops them all. Each sidecar runs in its own process group (stopped with SIGTERM, then SIGKILL after
10 s) and, on Linux, gets SIGTERM if its supervising process dies without stopping it.

What it writes for the other processes to see is ``<data_dir>/plugins/<name>.state.json``: the pid, when
it started, how often it restarted and the last exit status. Health checks (runplane.plugins.manager)
never depend on being the supervisor: they ask the sidecar's endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger("runplane.plugins")

STOP_GRACE_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 60.0


@dataclass(frozen=True)
class SidecarCommand:
    """What a sidecar should run: its command line and working directory (None: it should not run)."""

    name: str
    argv: tuple[str, ...]
    cwd: Path


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class _Running:
    command: SidecarCommand
    process: subprocess.Popen[bytes]
    started_at: float
    restarts: int
    log: IO[bytes]


class SidecarSupervisor:
    """Keeps the sidecars matching ``desired()`` (name → command) while this process holds the lock."""

    def __init__(
        self,
        state_dir: Path,
        desired: Callable[[], Awaitable[dict[str, SidecarCommand]]],
        *,
        poll_seconds: float = 2.0,
        also: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.desired = desired
        # Other work for the one supervising process, after each reconcile (the tasks' plugin statuses).
        self.also = also
        self.poll_seconds = poll_seconds
        self._running: dict[str, _Running] = {}
        self._failures: dict[str, tuple[int, float]] = {}  # name → (consecutive crashes, not before)
        self._restarts: dict[str, int] = {}  # name → restarts after crashes since its configuration changed
        self._lock_file: IO[bytes] | None = None
        self._task: asyncio.Task[None] | None = None

    def state_path(self, name: str) -> Path:
        return self.state_dir / f"{name}.state.json"

    def log_path(self, name: str) -> Path:
        return self.state_dir / f"{name}.log"

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="runplane-sidecars")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for name in list(self._running):
            await self._stop_one(name, why="runplane is stopping")
        if self._lock_file is not None:
            self._lock_file.close()  # releases the flock
            self._lock_file = None

    async def _loop(self) -> None:
        while True:
            try:
                if self._hold_lock():
                    await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad poll (the database away) must not end supervision: the next retries
                logger.warning("plugin sidecar supervision failed; retrying", exc_info=True)
            if self.also is not None and self._lock_file is not None:
                try:
                    await self.also()
                except asyncio.CancelledError:
                    raise
                except Exception:  # the same: the next poll retries
                    logger.warning("tending the tasks' plugins failed; retrying", exc_info=True)
            await asyncio.sleep(self.poll_seconds)

    def _hold_lock(self) -> bool:
        if self._lock_file is not None:
            return True
        self.state_dir.mkdir(parents=True, exist_ok=True)
        handle = (self.state_dir / "supervisor.lock").open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_file = handle
        logger.info("supervising plugin sidecars", extra={"pid": os.getpid()})
        return True

    async def reconcile(self) -> None:
        """One pass: start, restart or stop sidecars to match the configurations."""
        wanted = await self.desired()
        for name in list(self._running):
            if name not in wanted:
                await self._stop_one(name, why="its plugin is no longer in sidecar mode")
                self._failures.pop(name, None)
                self._restarts.pop(name, None)
            elif wanted[name] != self._running[name].command:
                await self._stop_one(name, why="its configuration changed")
                self._failures.pop(name, None)
                self._restarts.pop(name, None)
        for name, command in wanted.items():
            running = self._running.get(name)
            if running is not None and running.process.poll() is None:
                continue
            if running is not None:  # it died on its own
                code = running.process.returncode
                running.log.close()
                del self._running[name]
                crashes, _ = self._failures.get(name, (0, 0.0))
                if time.monotonic() - running.started_at > MAX_BACKOFF_SECONDS:
                    crashes = 0  # it had been running fine: no back-off from earlier crashes
                delay = min(2.0**crashes, MAX_BACKOFF_SECONDS)
                self._failures[name] = (crashes + 1, time.monotonic() + delay)
                restarts = self._restarts[name] = running.restarts + 1
                logger.warning(
                    "plugin sidecar exited; restarting it",
                    extra={"plugin": name, "exit_code": code, "restart_in_seconds": delay},
                )
                self._write_state(name, None, restarts=restarts, exit_code=code)
            _, not_before = self._failures.get(name, (0, 0.0))
            if time.monotonic() < not_before:
                continue
            self._start_one(command, restarts=self._restarts.get(name, 0))

    def _start_one(self, command: SidecarCommand, *, restarts: int) -> None:
        command.cwd.mkdir(parents=True, exist_ok=True)
        log = self.log_path(command.name).open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # The server's own secrets stay with it: its admin key and database URL are not the sidecar's.
        for variable in list(env):
            if variable.startswith("RUNPLANE_"):
                del env[variable]
        try:
            process = subprocess.Popen(
                list(command.argv),
                cwd=command.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as exc:
            log.close()
            crashes, _ = self._failures.get(command.name, (0, 0.0))
            self._failures[command.name] = (crashes + 1, time.monotonic() + MAX_BACKOFF_SECONDS)
            logger.error("cannot start plugin sidecar", extra={"plugin": command.name, "error": str(exc)})
            self._write_state(command.name, None, restarts=restarts, error=str(exc))
            return
        self._running[command.name] = _Running(command, process, time.monotonic(), restarts, log)
        self._write_state(command.name, process.pid, restarts=restarts)
        logger.info("plugin sidecar started", extra={"plugin": command.name, "pid": process.pid})

    async def _stop_one(self, name: str, *, why: str) -> None:
        running = self._running.pop(name)
        process = running.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            while process.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110 - a child, no event
                await asyncio.sleep(0.1)
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await asyncio.to_thread(process.wait)
        else:  # its children may outlive it in its group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        running.log.close()
        self._write_state(name, None, restarts=running.restarts, stopped=why)
        logger.info("plugin sidecar stopped", extra={"plugin": name, "reason": why})

    def _write_state(self, name: str, pid: int | None, *, restarts: int, **extra: Any) -> None:
        state = {"pid": pid, "started_at": time.time() if pid else None, "restarts": restarts, **extra}
        path = self.state_path(name)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, path)


def read_state(state_dir: Path, name: str) -> dict[str, Any]:
    """The supervisor's last word on sidecar `name` (empty when it never ran)."""
    try:
        found: dict[str, Any] = json.loads((state_dir / f"{name}.state.json").read_text())
    except (OSError, ValueError):
        return {}
    return found


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
