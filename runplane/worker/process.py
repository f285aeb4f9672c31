"""Run a task's entrypoint as its own process group, with its resource limits enforced.

The entrypoint runs under the supervisor shim (``runplane/worker/shim.py``), which leads a new session and
process group, pins the CPUs, reaps everything the task forks and takes the whole group down if the worker
dies, even by SIGKILL. This module streams the group's stdout/stderr line by line, watches its memory, its
deadline and the cancel event, and only returns once no process of the group is left.

Memory is enforced by a watchdog, not by ``RLIMIT_AS``: every ``SAMPLE_INTERVAL_SECONDS`` the RSS of every
live process of the group (and of every descendant of the shim, should one have left the group) is summed,
and above the limit the task is SIGKILLed with reason ``out_of_memory``. ``RLIMIT_AS`` caps *virtual* address
space, per process: NumPy/OpenBLAS thread arenas, malloc arenas, xgboost and above all the CUDA runtime
reserve far more address space than they touch (a CUDA context maps tens of GB). Measured on this project's
stack: a numpy + xgboost fit peaks at 134 MB RSS but 522 MB of address space, and under an ``RLIMIT_AS`` of
300 MB ``libxgboost.so`` cannot even be mapped. An address-space cap near the requested memory therefore
breaks ordinary ML code, and one far above it guards nothing (nor would it bound a group of processes), so
there is no ``RLIMIT_AS`` backstop. The watchdog can be outrun between two samples by a very fast
allocator: it is a service-level guard, not a kernel guarantee (a cgroup ``memory.max`` would be).
Summed RSS counts pages shared between forked processes once per process, which errs on the strict side.
The shim itself (a small Python process) is not counted against the task's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from runplane.worker.shim import group_members, scan_processes

logger = logging.getLogger(__name__)

OutputCallback = Callable[[str, str], Awaitable[None]]
OutcomeReason = Literal["exit_code", "timeout", "out_of_memory", "cancelled"]

SHIM_PATH = Path(__file__).with_name("shim.py")
SAMPLE_INTERVAL_SECONDS = 0.1
# A longer line reaches on_output in pieces of at most this many bytes (cut on a UTF-8 character boundary).
MAX_LINE_BYTES = 64 * 1024
_READ_CHUNK_BYTES = 64 * 1024
# Once the task's processes are SIGKILLed, the shim only has to reap them; if it cannot within this time it
# is killed too.
_SHIM_EXIT_SECONDS = 5.0
_GROUP_GONE_SECONDS = 10.0
_GROUP_GONE_POLL_SECONDS = 0.05
# After the group is gone, a stream that delivers nothing for this long is held open by a process outside
# the group (possible only if the shim itself had to be killed); stop waiting for its end.
_DRAIN_STALL_SECONDS = 5.0
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class ResourceLimits:
    """What a task may use. ``None`` means unlimited (or, for ``cpu_ids``, inherit the worker's CPUs)."""

    cpu_ids: list[int] | None = None
    memory_bytes: int | None = None
    timeout_seconds: float | None = None


@dataclass(frozen=True)
class ProcessOutcome:
    """How the entrypoint ended.

    ``exit_code`` is the entrypoint's exit status, negative for a death by signal (``-9`` for SIGKILL, as
    asyncio reports it) and ``None`` if it never started. ``reason`` is ``None`` for a clean exit 0,
    ``"exit_code"`` for any other exit the worker did not cause, or what made the worker end it.
    """

    exit_code: int | None
    reason: OutcomeReason | None
    peak_rss_bytes: int
    duration_seconds: float


async def run_process(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    limits: ResourceLimits,
    on_output: OutputCallback,
    cancel: asyncio.Event,
    kill_grace_seconds: float = 5.0,
) -> ProcessOutcome:
    """Run ``argv`` in ``cwd`` with exactly ``env`` as its environment, and supervise it to the end.

    ``on_output(stream, line)`` is awaited for every line of ``"stdout"`` and ``"stderr"``: in order within a
    stream, while calls for the two streams may interleave. A slow callback slows the task down (its pipe
    fills) rather than buffering without bound. Every line has been delivered when this returns.

    On timeout or cancel the group gets SIGTERM, then SIGKILL after ``kill_grace_seconds``; over the memory
    limit it gets SIGKILL at once. If ``on_output`` raises, or this coroutine is itself cancelled, the group
    is killed and the exception propagates. Whatever the end, no process of the task is left when it returns.

    A missing or non-executable entrypoint is not an exception: it ends with exit code 127 or 126 and a
    message on stderr, as under a shell. Invalid limits raise ``ValueError``; a missing ``cwd`` raises
    ``FileNotFoundError``.
    """
    _validate(argv, limits, kill_grace_seconds)
    loop = asyncio.get_running_loop()
    if cancel.is_set():
        return ProcessOutcome(exit_code=None, reason="cancelled", peak_rss_bytes=0, duration_seconds=0.0)
    started = loop.time()
    status_r, status_w = os.pipe()
    try:
        try:
            os.set_blocking(status_r, False)
            spawn = asyncio.ensure_future(
                asyncio.create_subprocess_exec(
                    *_shim_command(argv, limits.cpu_ids, status_w),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    cwd=cwd,
                    env=env,
                    start_new_session=True,
                    pass_fds=(status_w,),
                )
            )
            try:
                proc = await asyncio.shield(spawn)
            except asyncio.CancelledError:
                # Cancelled mid-spawn: the shim may exist already and must not be left running unsupervised.
                with contextlib.suppress(Exception):
                    orphan = await spawn
                    await _Supervision(orphan, on_output, limits, kill_grace_seconds, status_r).abort()
                raise
        finally:
            # The shim holds its own copy now; ours would keep the status pipe from ever reaching EOF.
            os.close(status_w)
        return await _Supervision(proc, on_output, limits, kill_grace_seconds, status_r).run(cancel, started)
    finally:
        os.close(status_r)


def _validate(argv: Sequence[str], limits: ResourceLimits, kill_grace_seconds: float) -> None:
    if not argv or not argv[0]:
        raise ValueError("argv must name a program")
    if any("\0" in arg for arg in argv):
        raise ValueError("argv must not contain NUL characters")
    if limits.cpu_ids is not None:
        if not limits.cpu_ids:
            raise ValueError("cpu_ids must not be empty (use None to inherit the worker's CPUs)")
        usable = os.sched_getaffinity(0)
        outside = sorted(set(limits.cpu_ids) - usable)
        if outside:
            raise ValueError(f"cpu_ids {outside} are not among this worker's CPUs {sorted(usable)}")
    if limits.memory_bytes is not None and limits.memory_bytes <= 0:
        raise ValueError("memory_bytes must be positive")
    if limits.timeout_seconds is not None and limits.timeout_seconds <= 0:
        raise ValueError("timeout_seconds must be positive")
    if kill_grace_seconds < 0:
        raise ValueError("kill_grace_seconds must not be negative")


def _shim_command(argv: Sequence[str], cpu_ids: list[int] | None, status_fd: int) -> list[str]:
    if not sys.executable:
        raise RuntimeError("cannot locate the Python interpreter to run the task shim")
    # Run the shim by path with -I: the task's environment (PYTHONPATH, PYTHONHOME, ...) must not change what
    # the shim imports, and the package needs not be importable from the task's cwd.
    command = [
        sys.executable,
        "-I",
        str(SHIM_PATH),
        "--parent-pid",
        str(os.getpid()),
        "--status-fd",
        str(status_fd),
    ]
    if cpu_ids is not None:
        command += ["--cpus", ",".join(str(cpu) for cpu in sorted(set(cpu_ids)))]
    return [*command, "--", *argv]


def _cut_point(data: bytes | bytearray, limit: int) -> int:
    """An index <= limit where ``data`` may be cut without splitting a UTF-8 sequence (len(data) > limit)."""
    cut = limit
    # At most 3 continuation bytes (10xxxxxx) follow a lead byte; beyond that the data is not UTF-8 anyway.
    while cut > limit - 3 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut if (data[cut] & 0xC0) != 0x80 else limit


class _Pump:
    """Reads one stream to its end and hands it to ``on_output`` line by line."""

    def __init__(self, stream: asyncio.StreamReader, name: str, on_output: OutputCallback) -> None:
        self.stream = stream
        self.name = name
        self.on_output = on_output
        self.bytes_read = 0
        self.in_callback = False

    async def run(self) -> None:
        buffer = bytearray()
        while True:
            chunk = await self.stream.read(_READ_CHUNK_BYTES)
            if not chunk:
                break
            self.bytes_read += len(chunk)
            buffer += chunk
            start = 0
            while (newline := buffer.find(b"\n", start)) >= 0:
                line = bytes(buffer[start:newline])
                start = newline + 1
                await self._emit(line[:-1] if line.endswith(b"\r") else line)
            del buffer[:start]
            while len(buffer) > MAX_LINE_BYTES:
                cut = _cut_point(buffer, MAX_LINE_BYTES)
                piece = bytes(buffer[:cut])
                del buffer[:cut]
                await self._emit(piece)
        if buffer:
            await self._emit(bytes(buffer))

    async def _emit(self, line: bytes) -> None:
        while True:
            if len(line) > MAX_LINE_BYTES:
                cut = _cut_point(line, MAX_LINE_BYTES)
                piece, line = line[:cut], line[cut:]
            else:
                piece, line = line, b""
            self.in_callback = True
            try:
                await self.on_output(self.name, piece.decode("utf-8", errors="replace"))
            finally:
                self.in_callback = False
            if not line:
                return


class _Supervision:
    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        on_output: OutputCallback,
        limits: ResourceLimits,
        kill_grace_seconds: float,
        status_fd: int,
    ) -> None:
        self.proc = proc
        # The shim leads its own session, so its pid names the task's process group.
        self.pgid = proc.pid
        self.limits = limits
        self.kill_grace_seconds = kill_grace_seconds
        self.status_fd = status_fd
        self.peak_rss_bytes = 0
        assert proc.stdout is not None and proc.stderr is not None
        self.pumps = [_Pump(proc.stdout, "stdout", on_output), _Pump(proc.stderr, "stderr", on_output)]
        self.pump_tasks = [asyncio.ensure_future(pump.run()) for pump in self.pumps]
        self.exited = asyncio.ensure_future(proc.wait())

    # -- the task's processes ---------------------------------------------------------------------------

    def _task_processes(self) -> list[int]:
        """Live pids of the group and of the shim's descendants, the shim excluded."""
        procs = scan_processes()
        return [
            p.pid
            for p in group_members(procs, pgid=self.pgid, root=self.pgid)
            if p.alive and p.pid != self.pgid
        ]

    def sample_rss(self) -> int:
        procs = group_members(scan_processes(), pgid=self.pgid, root=self.pgid)
        total = sum(p.rss_pages for p in procs if p.alive and p.pid != self.pgid) * _PAGE_SIZE
        self.peak_rss_bytes = max(self.peak_rss_bytes, total)
        return total

    def _signal_group(self, signum: int) -> None:
        # Once the shim is reaped its pid, and so the group id, may be reused: never signal the group after.
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, signum)

    def _kill_task_processes(self) -> None:
        for pid in self._task_processes():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    async def _kill(self) -> None:
        # Kill the task's processes but leave the shim to reap them (it then exits by itself): SIGKILLing the
        # shim too would hand their zombies to PID 1, which in a container often never reaps them.
        self._kill_task_processes()
        done, _ = await asyncio.wait([self.exited], timeout=_SHIM_EXIT_SECONDS)
        if not done:
            logger.warning("task shim %d did not exit after its processes were killed; killing it", self.pgid)
            self._signal_group(signal.SIGKILL)
            await self.exited

    async def _terminate(self) -> None:
        loop = asyncio.get_running_loop()
        self._signal_group(signal.SIGTERM)
        deadline = loop.time() + self.kill_grace_seconds
        # The memory limit still holds while the task shuts down.
        while not self.exited.done() and (remaining := deadline - loop.time()) > 0:
            if self.limits.memory_bytes is not None and self.sample_rss() > self.limits.memory_bytes:
                break
            await asyncio.wait([self.exited], timeout=min(SAMPLE_INTERVAL_SECONDS, remaining))
        if not self.exited.done():
            await self._kill()

    async def _wait_group_gone(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _GROUP_GONE_SECONDS
        while True:
            # The shim has exited and been reaped: only the group id is left to find stragglers by.
            live = [p for p in scan_processes() if p.pgrp == self.pgid and p.alive]
            if not live:
                return
            for proc in live:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(proc.pid, signal.SIGKILL)
            if loop.time() >= deadline:
                logger.error(
                    "processes %s of task group %d survive SIGKILL", [p.pid for p in live], self.pgid
                )
                return
            await asyncio.sleep(_GROUP_GONE_POLL_SECONDS)

    # -- output -----------------------------------------------------------------------------------------

    def _raise_pump_failure(self) -> None:
        # Retrieve every failure (asyncio complains about unretrieved ones), then raise the first.
        failures = [
            exc
            for task in self.pump_tasks
            if task.done() and not task.cancelled() and (exc := task.exception()) is not None
        ]
        if failures:
            raise failures[0]

    async def _drain(self) -> None:
        pending = {task for task in self.pump_tasks if not task.done()}
        while pending:
            before = sum(pump.bytes_read for pump in self.pumps)
            done, pending = await asyncio.wait(pending, timeout=_DRAIN_STALL_SECONDS)
            stalled = not done and sum(pump.bytes_read for pump in self.pumps) == before
            if stalled and not any(pump.in_callback for pump in self.pumps):
                logger.warning(
                    "output of task group %d still open after its end; not waiting for it", self.pgid
                )
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                self._close_transport()
                break
        self._raise_pump_failure()

    def _close_transport(self) -> None:
        transport = getattr(self.proc, "_transport", None)
        if transport is not None:
            transport.close()

    async def _close_stdin(self) -> None:
        stdin = self.proc.stdin
        if stdin is not None:
            stdin.close()
            with contextlib.suppress(ConnectionError):
                await stdin.wait_closed()

    # -- the run ----------------------------------------------------------------------------------------

    def _read_status(self) -> dict[str, object]:
        chunks: list[bytes] = []
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.status_fd, 65536):
                chunks.append(chunk)
        try:
            status = json.loads(b"".join(chunks) or b"{}")
        except ValueError:
            return {}
        return status if isinstance(status, dict) else {}

    async def _watch(self, cancel: asyncio.Event, deadline: float | None) -> OutcomeReason | None:
        loop = asyncio.get_running_loop()
        cancelled = asyncio.ensure_future(cancel.wait())
        try:
            while True:
                rss = self.sample_rss()
                if self.exited.done():
                    return None
                self._raise_pump_failure()
                if self.limits.memory_bytes is not None and rss > self.limits.memory_bytes:
                    await self._kill()
                    return "out_of_memory"
                if cancel.is_set():
                    await self._terminate()
                    return "cancelled"
                now = loop.time()
                if deadline is not None and now >= deadline:
                    await self._terminate()
                    return "timeout"
                pause = (
                    SAMPLE_INTERVAL_SECONDS
                    if deadline is None
                    else min(SAMPLE_INTERVAL_SECONDS, deadline - now)
                )
                watched = [self.exited, cancelled, *(task for task in self.pump_tasks if not task.done())]
                await asyncio.wait(watched, timeout=pause, return_when=asyncio.FIRST_COMPLETED)
        finally:
            cancelled.cancel()
            await asyncio.gather(cancelled, return_exceptions=True)

    async def run(self, cancel: asyncio.Event, started: float) -> ProcessOutcome:
        loop = asyncio.get_running_loop()
        timeout = self.limits.timeout_seconds
        try:
            reason = await self._watch(cancel, None if timeout is None else started + timeout)
            await self._wait_group_gone()
        except BaseException:
            # on_output failed, or we are cancelled ourselves: the task must not outlive its supervision.
            cleanup = asyncio.ensure_future(self.abort())
            with contextlib.suppress(Exception):
                await asyncio.shield(cleanup)
            raise
        duration = loop.time() - started
        try:
            await self._drain()
        finally:
            await self._close_stdin()
        status = self._read_status()
        exit_code = _exit_code(status, self.proc.returncode)
        max_rss_kb = status.get("max_rss_kb")
        if isinstance(max_rss_kb, int):
            self.peak_rss_bytes = max(self.peak_rss_bytes, max_rss_kb * 1024)
        if reason is None and exit_code != 0:
            reason = "exit_code"
        return ProcessOutcome(
            exit_code=exit_code,
            reason=reason,
            peak_rss_bytes=self.peak_rss_bytes,
            duration_seconds=duration,
        )

    async def abort(self) -> None:
        """Kill everything at once and release every resource; used when supervision cannot go on."""
        if not self.exited.done():
            await self._kill()
        await self._wait_group_gone()
        for task in self.pump_tasks:
            task.cancel()
        await asyncio.gather(*self.pump_tasks, return_exceptions=True)
        self._close_transport()
        await self._close_stdin()


def _exit_code(status: dict[str, object], returncode: int | None) -> int | None:
    """The entrypoint's own exit status as the shim reported it, else the shim's (which mirrors it)."""
    code = status.get("exit_code")
    if isinstance(code, int):
        return code
    signum = status.get("signal")
    if isinstance(signum, int):
        return -signum
    return returncode
