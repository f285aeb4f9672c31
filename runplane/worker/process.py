"""Run a task's entrypoint as its own process group, with its resource limits enforced.

The entrypoint runs under a supervisor shim (``runplane/worker/shim.py``), which starts it as the leader of
a new session and process group, pins the CPUs, reaps everything the task forks and takes the whole task
down if the worker dies, even by SIGKILL. Shims are not new interpreters per task: each worker process
(each event loop) starts one fork server (``shim.py --serve``, a child of the worker that dies with it)
holding the shim's code already imported; it forks shims as needed and hands each task to an idle one
(:class:`_ForkServerClient`), so a shim runs task after task, one at a time. The task's pipes travel to
it over Unix sockets. This module streams the task's stdout/stderr line by line, watches its memory, its
deadline and the cancel event, and only returns once no process of the task is left.

Memory is enforced by a watchdog, not by ``RLIMIT_AS``: one loop per worker (:class:`_Watchdog`) sums,
every ``SAMPLE_INTERVAL_SECONDS``, the RSS of every live process of each task (the descendants of its shim
and the members of its group, found by :class:`_ProcessTable`, which reads only new processes and the
tasks' own, not every process on the host), and above the limit the task is SIGKILLed with reason
``out_of_memory``. (No per-task cgroup: it needs a writable cgroup v2 hierarchy delegated to the worker,
which neither this machine (cgroup v1, not writable) nor a typical container gives.) ``RLIMIT_AS`` caps *virtual* address
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
import atexit
import contextlib
import ctypes
import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from stat import S_IMODE, S_IXGRP, S_IXOTH, S_IXUSR
from typing import Any, Literal

from runplane.worker.shim import (
    SPAWN_FDS,
    ProcStat,
    encode_request,
    read_proc_stat,
    scan_processes,
)

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
_SERVER_EXIT_SECONDS = 5.0


@dataclass(frozen=True)
class TaskUser:
    """The unprivileged account tasks run as when the worker runs as root (``--task-user``).

    ``uid``/``gid`` are what the entrypoint drops to (no supplementary groups); ``name`` becomes the task's
    ``USER``/``LOGNAME``. Use :func:`resolve_task_user` to build one from a user name.
    """

    name: str
    uid: int
    gid: int


def resolve_task_user(name: str | None) -> TaskUser | None:
    """The account tasks run as: ``name`` (a user name or a numeric uid) or, when ``None``, ``nobody`` if
    this process runs as root and this process's own account otherwise (``None`` means "do not switch").

    Mirrors Slurm, where a job never runs with slurmd's privileges: a task run as root could read the
    worker's key, other tasks' secrets and the server's database. ``name`` equal to the current user also
    gives ``None``. An unknown user raises ``ValueError``; naming another user while not root raises
    ``ValueError`` too (only root can switch).
    """
    import pwd

    if name is None:
        if os.geteuid() != 0:
            return None
        name = "nobody"
    try:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except (KeyError, ValueError):
        raise ValueError(f"task user {name!r} does not exist on this host") from None
    if entry.pw_uid == os.geteuid():
        return None
    if os.geteuid() != 0:
        raise ValueError(f"only a worker running as root can run tasks as another user ({name!r})")
    return TaskUser(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid)


def check_reachable(directory: Path, user: TaskUser) -> None:
    """Raise ``ValueError`` unless ``user`` may enter ``directory`` (search permission on it and on every
    directory above it): the task's work directory lies below it, and a task that cannot ``chdir`` there
    would fail every time. Root-only parents (``/root``, pytest's ``/tmp/pytest-of-root``, the server's
    ``0o700`` data dir) are the usual culprits."""
    for path in (directory.resolve(), *directory.resolve().parents):
        info = path.stat()
        if info.st_uid == user.uid:
            bit = S_IXUSR
        elif info.st_gid == user.gid:
            bit = S_IXGRP
        else:
            bit = S_IXOTH
        if not info.st_mode & bit:
            raise ValueError(
                f"tasks run as {user.name!r} cannot enter {path} (mode {S_IMODE(info.st_mode):o}), "
                f"so not the work directory {directory}: choose a --work-dir they can reach, or give "
                "that directory search permission (chmod o+x)"
            )


def choose_task_user(name: str | None, work_dir: Path) -> TaskUser | None:
    """The user `runplane worker` runs its tasks as (``--task-user``; None: its own), checked up front.

    A named user must be able to enter ``work_dir`` (created here) or ``ValueError`` is raised; if it
    cannot run the worker's Python (``.py`` entrypoints and catalog models need it) a warning says so.
    With no name, a root worker picks ``nobody`` when ``nobody`` can do both, and otherwise warns and
    keeps running tasks as root (a Python installed under ``/root``, such as pyenv's, is out of
    ``nobody``'s reach): README, "Security", says what that leaves open.
    """
    user = resolve_task_user(name)
    if user is None:
        return None
    work_dir.mkdir(parents=True, exist_ok=True)
    python = Path(sys.executable).resolve()
    try:
        check_reachable(python.parent, user)
        python_problem = (
            None if os.stat(python).st_mode & S_IXOTH else f"{python} is not executable by others"
        )
    except ValueError as exc:
        python_problem = str(exc)
    if name is not None:
        check_reachable(work_dir, user)
        if python_problem:
            logger.warning("tasks run as %s cannot start Python: %s", user.name, python_problem)
        return user
    try:
        check_reachable(work_dir, user)
    except ValueError as exc:
        python_problem = python_problem or str(exc)
    if python_problem:
        logger.warning(
            "the worker runs as root and its tasks run as root too (they can read every file of this "
            "host): %s. Give --task-user a user who can, or make it reachable.",
            python_problem,
        )
        return None
    return user


PR_SET_DUMPABLE = 4


def protect_process() -> None:
    """Keep the worker's key from processes of its own user (its tasks when they share its uid).

    The agent becomes non-dumpable (Linux ``prctl(PR_SET_DUMPABLE, 0)``): its ``/proc/<pid>/environ``,
    ``mem`` and ``fd`` become root's and ptrace is refused to other processes of the same uid. The key is
    also dropped from ``os.environ``, so nothing the agent starts inherits it (``/proc/<pid>/environ``
    still shows the environment a process started with, hence ``--key-file`` and ``runplane up``'s pipe).
    Elsewhere than Linux only the second half applies. Children regain dumpability on ``exec``.
    """
    os.environ.pop("RUNPLANE_WORKER_KEY", None)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            logger.warning("cannot make the worker non-dumpable: errno %d", ctypes.get_errno())


_task_user: TaskUser | None = None


def set_task_user(user: TaskUser | None) -> None:
    """Run every task this process starts from now on as ``user`` (``None``: as this process's user)."""
    global _task_user
    _task_user = user


def _hand_over(paths: Sequence[str], user: TaskUser) -> None:
    """Give ``user`` the directories a task is told it may write: each tree's directories and its regular
    files with a single link. Symbolic links are never followed (a link in a snapshot must not make root
    chown what it points at), and a hardlinked file (a dataset shared with the content cache, ``0o444``)
    stays root's so the task cannot make it writable and corrupt the cache."""
    for top in dict.fromkeys(paths):
        if not os.path.isdir(top) or os.path.islink(top):
            continue
        os.chown(top, user.uid, user.gid, follow_symlinks=False)
        for directory, subdirs, files in os.walk(top):
            for name in subdirs:
                os.chown(os.path.join(directory, name), user.uid, user.gid, follow_symlinks=False)
            for name in files:
                path = os.path.join(directory, name)
                if os.lstat(path).st_nlink == 1:
                    os.chown(path, user.uid, user.gid, follow_symlinks=False)


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
    runtime = _runtime()
    user = _task_user
    if user is not None:
        env = dict(env)
        # The worker's HOME (root's, 0700) is no place for the task's user; its tmp dir is its own.
        if env.get("HOME") == os.environ.get("HOME"):
            env["HOME"] = env.get("TMPDIR") or str(cwd)
        env["USER"] = env["LOGNAME"] = user.name
        owned = [str(cwd), *(env[name] for name in ("TMPDIR", "RUNPLANE_OUTPUT_DIR") if env.get(name))]
        await asyncio.to_thread(_hand_over, owned, user)
    status_r, status_w = os.pipe()
    try:
        try:
            os.set_blocking(status_r, False)
            spawn = asyncio.ensure_future(
                runtime.forks.spawn(
                    argv, env=env, cwd=cwd, cpu_ids=limits.cpu_ids, status_fd=status_w, user=user
                )
            )
            try:
                proc = await asyncio.shield(spawn)
            except asyncio.CancelledError:
                # Cancelled mid-spawn: the shim may exist already and must not be left running unsupervised.
                with contextlib.suppress(Exception):
                    orphan = await spawn
                    await _Supervision(
                        orphan, runtime, on_output, limits, kill_grace_seconds, status_r
                    ).abort()
                raise
        finally:
            # The shim holds its own copy now; ours would keep the status pipe from ever reaching EOF.
            os.close(status_w)
        supervision = _Supervision(proc, runtime, on_output, limits, kill_grace_seconds, status_r)
        return await supervision.run(cancel, started)
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


def _cut_point(data: bytes | bytearray, limit: int) -> int:
    """An index <= limit where ``data`` may be cut without splitting a UTF-8 sequence (len(data) > limit)."""
    cut = limit
    # At most 3 continuation bytes (10xxxxxx) follow a lead byte; beyond that the data is not UTF-8 anyway.
    while cut > limit - 3 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut if (data[cut] & 0xC0) != 0x80 else limit


def server_env(worker_env: Mapping[str, str]) -> dict[str, str]:
    """The fork server's environment: the worker's, less every ``RUNPLANE_*`` variable (the worker key
    above all). The server and the shims it forks never need them, and each task gets its own environment
    built from an allow list (`runplane.worker.launch.build_env`)."""
    return {name: value for name, value in worker_env.items() if not name.startswith("RUNPLANE_")}


class _TaskProcess:
    """The worker's handle on one task run by a shim of the fork server (once an ``asyncio`` ``Process``).

    ``pid`` is the shim's (a shim runs one task at a time, and the next only once this handle is reaped);
    ``group`` the task's process group id (its entrypoint's pid) once the shim has reported it.
    ``returncode`` is ``None`` until the server has reported the task's end; from then on its group is never
    signalled again. Signals go through the shim (:meth:`signal_group`), which sends them only while the
    group's leader is unreaped: the worker never names a group id that may have been reused.
    """

    def __init__(
        self,
        pid: int,
        exit_future: asyncio.Future[int],
        reaped_future: asyncio.Future[None],
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader,
        transports: list[asyncio.BaseTransport],
        stdin_fd: int,
        client: _ForkServerClient,
    ) -> None:
        self.pid = pid
        self._client = client
        self._exit = exit_future
        self._reaped = reaped_future
        self.stdout = stdout
        self.stderr = stderr
        self._transports = transports
        self._stdin_fd = stdin_fd

    @property
    def returncode(self) -> int | None:
        return self._exit.result() if self._exit.done() else None

    @property
    def group(self) -> int | None:
        return self._client.leaders.get(self.pid)

    def signal_group(self, signum: int) -> None:
        """Have the shim send ``signum`` to the task's process group (nothing once the task has ended)."""
        if self.returncode is None:
            self._client.request({"op": "signal", "pid": self.pid, "signal": int(signum)})

    def kill_shim(self) -> None:
        """Have the server SIGKILL the shim itself (it could not end the task in time)."""
        if self.returncode is None:
            self._client.request({"op": "kill", "pid": self.pid})

    async def wait(self) -> int:
        return await asyncio.shield(self._exit)

    async def wait_reaped(self) -> None:
        """Until the server has reaped the ended shim: then not even its zombie is left."""
        await asyncio.shield(self._reaped)

    def close_stdin(self) -> None:
        """Close the liveness pipe: the shim reads its end as the worker's death and kills the task."""
        if self._stdin_fd >= 0:
            os.close(self._stdin_fd)
            self._stdin_fd = -1

    def close_transports(self) -> None:
        for transport in self._transports:
            transport.close()


class _ForkServerClient:
    """The worker's side of the fork server (:class:`runplane.worker.shim.ForkServer`): one per event loop.

    The server is started on first use (one interpreter start per worker instead of one per task) and
    again if it has died. Spawns are serialised on the socket (a frame and its descriptors must not
    interleave with another's); answers are read by a reader callback on the event loop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        if not sys.executable:
            raise RuntimeError("cannot locate the Python interpreter to run the task shim")
        self.loop = loop
        self.pid = os.getpid()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # By path with -I: the task's environment (PYTHONPATH, PYTHONHOME, ...) must not change what
            # the shim imports, and the package needs not be importable from the task's cwd.
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    # No site: the shim is standard-library only, and site (with an editable install's
                    # import finder) would add megabytes to the memory every fork copies the tables of.
                    "-S",
                    str(SHIM_PATH),
                    "--serve",
                    "--parent-pid",
                    str(self.pid),
                    "--socket-fd",
                    str(theirs.fileno()),
                ],
                pass_fds=(theirs.fileno(),),
                # Not the worker's environment: its key (and any RUNPLANE_* setting) must not sit in a
                # process whose /proc/<pid>/environ a task might read.
                env=server_env(os.environ),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        self.sock = ours
        self.closed = False
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._reaps: dict[int, asyncio.Future[None]] = {}
        # Shim pid → the process group id of its running task, as the shim reported it.
        self.leaders: dict[int, int] = {}
        self._inbox = bytearray()
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        loop.add_reader(ours.fileno(), self._on_readable)

    @property
    def usable(self) -> bool:
        return not self.closed and self.pid == os.getpid() and not self.loop.is_closed()

    def close(self) -> None:
        """Close the socket: the server exits, and the shims of tasks still running kill them."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        # A shim the server can no longer report on counts as killed; its own status line still tells.
        for future in self._exits.values():
            if not future.done():
                future.set_result(-signal.SIGKILL)
        for reaped in self._reaps.values():
            if not reaped.done():
                reaped.set_result(None)
        for reply in self._replies.values():
            if not reply.done():
                reply.set_exception(ConnectionError("the task fork server is gone"))
        # The server exits as soon as it reads the socket's end.
        try:
            self.process.wait(timeout=_SERVER_EXIT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _on_readable(self) -> None:
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            logger.error(
                "the task fork server (pid %d) has gone; starting another for new tasks", self.process.pid
            )
            self.close()
            return
        self._inbox += data
        while (newline := self._inbox.find(b"\n")) >= 0:
            message = json.loads(bytes(self._inbox[:newline]))
            del self._inbox[: newline + 1]
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "leader" in message:
            self.leaders[int(message["pid"])] = int(message["leader"])
            return
        if "reaped" in message:
            self.leaders.pop(int(message["reaped"]), None)
            reaped = self._reaps.pop(int(message["reaped"]), None)
            if reaped is not None and not reaped.done():
                reaped.set_result(None)
            return
        if "exit" in message:
            pid = int(message["exit"])
            future = self._exits.pop(pid, None)
            code, signum = message.get("code"), message.get("signal")
            if future is not None and not future.done():
                # Set before the reap is even sent: from here on nothing signals the shim's group.
                future.set_result(code if isinstance(code, int) else -int(signum or signal.SIGKILL))
            self._send_later(encode_request({"op": "reap", "pid": pid}), [])
            return
        reply = self._replies.pop(int(message["id"]), None)
        if "pid" in message:
            self._exits[int(message["pid"])] = self.loop.create_future()
            self._reaps[int(message["pid"])] = self.loop.create_future()
        if reply is not None and not reply.done():
            reply.set_result(message)

    def request(self, payload: dict[str, object]) -> None:
        """Send ``payload`` to the server without waiting (nothing when it is gone)."""
        if not self.closed:
            self._send_later(encode_request(payload), [])

    def _send_later(self, frame: bytes, fds: list[int]) -> None:
        task = self.loop.create_task(self._send(frame, fds))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send(self, frame: bytes, fds: list[int]) -> None:
        async with self._lock:
            if self.closed:
                raise ConnectionError("the task fork server is gone")
            # The descriptors ride on the frame's first byte; the server takes them in order, SPAWN_FDS a spawn.
            while True:
                try:
                    socket.send_fds(self.sock, [frame[:1]], fds)
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.001)
            await self.loop.sock_sendall(self.sock, frame[1:])

    async def spawn(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        cwd: Path,
        cpu_ids: list[int] | None,
        status_fd: int,
        user: TaskUser | None = None,
    ) -> _TaskProcess:
        """Start ``argv`` under a forked shim; a missing ``cwd`` raises ``FileNotFoundError``."""
        request_id = next(self._ids)
        cpus = sorted(set(cpu_ids)) if cpu_ids is not None else None
        frame = encode_request(
            {
                "op": "spawn",
                "id": request_id,
                "argv": list(argv),
                "env": env,
                "cwd": str(cwd),
                "cpus": cpus,
                "user": [user.uid, user.gid] if user is not None else None,
            }
        )
        stdin_r, stdin_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        passed = [stdin_r, out_w, err_w, status_fd]
        assert len(passed) == SPAWN_FDS
        reply_future: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self._replies[request_id] = reply_future
        try:
            try:
                await self._send(frame, passed)
                reply = await reply_future
            finally:
                self._replies.pop(request_id, None)
                for fd in (stdin_r, out_w, err_w):
                    os.close(fd)
            if "pid" not in reply:
                raise OSError(
                    int(reply.get("errno") or 0), str(reply.get("error") or "cannot start the shim")
                )
            pid = int(reply["pid"])
            exit_future = self._exits.get(pid)
            reaped_future = self._reaps.get(pid)
            if exit_future is None or reaped_future is None:  # the server was lost right after answering
                exit_future = self.loop.create_future()
                exit_future.set_result(-signal.SIGKILL)
                reaped_future = self.loop.create_future()
                reaped_future.set_result(None)
            stdout, stdout_transport = await self._reader(out_r)
            out_r = -1
            stderr, stderr_transport = await self._reader(err_r)
            err_r = -1
        except BaseException:
            for fd in (stdin_w, out_r, err_r):
                if fd >= 0:
                    os.close(fd)
            raise
        return _TaskProcess(
            pid,
            exit_future,
            reaped_future,
            stdout,
            stderr,
            [stdout_transport, stderr_transport],
            stdin_w,
            self,
        )

    async def _reader(self, fd: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
        reader = asyncio.StreamReader(limit=_READ_CHUNK_BYTES, loop=self.loop)
        pipe = os.fdopen(fd, "rb", buffering=0)
        try:
            transport, _ = await self.loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader, loop=self.loop), pipe
            )
        except BaseException:
            pipe.close()
            raise
        return reader, transport


class _ProcessTable:
    """Which host processes belong to which task, kept up to date without re-reading all of /proc.

    A task's processes are the descendants of its shim (a subreaper: they stay its descendants until it
    has killed them) and the members of its process group. On each :meth:`refresh` only ``/proc`` itself
    is listed; ``/proc/<pid>/stat`` is read for pids not seen before, for the tasks' own processes (their
    RSS), and for a process whose parent is no longer known (it has been re-parented). A process that
    was not a task's descendant when first seen never becomes one (descent is fixed at fork; a group can
    only be joined from inside its session), so what the rest of the host does costs nothing but the
    listing. A pid exiting and being reused between two refreshes (pids are handed out cyclically, so
    that takes a wrap of the whole pid space in one interval) would be misread; a memory sample is a
    service-level guard, not a kernel guarantee (see the module's docstring).
    """

    def __init__(self) -> None:
        self.known: dict[int, ProcStat] = {}

    def refresh(self, roots: set[int]) -> dict[int, list[ProcStat]]:
        """Each root (a shim's pid) → its task's live processes, the shim itself excluded."""
        try:
            listed = {int(name) for name in os.listdir("/proc") if name.isdigit()}
        except OSError:
            listed = set(self.known)
        for pid in self.known.keys() - listed:
            del self.known[pid]
        owners: dict[int, int | None] = {}
        for pid in listed - self.known.keys():
            stat = read_proc_stat(pid)
            if stat is not None:
                self.known[pid] = stat
        # Members' stats are re-read (RSS, state); so are orphans, to learn their new parent.
        stale = [
            pid
            for pid, stat in self.known.items()
            if (stat.ppid not in self.known and stat.ppid > 1) or self._owner(pid, roots, owners) is not None
        ]
        if stale:
            owners.clear()
            for pid in stale:
                stat = read_proc_stat(pid)
                if stat is None:
                    self.known.pop(pid, None)
                else:
                    self.known[pid] = stat
        members: dict[int, list[ProcStat]] = {root: [] for root in roots}
        for pid, stat in self.known.items():
            owner = self._owner(pid, roots, owners)
            if owner is not None and pid != owner and stat.alive:
                members[owner].append(stat)
        return members

    def _owner(self, pid: int, roots: set[int], owners: dict[int, int | None]) -> int | None:
        chain: list[int] = []
        owner: int | None = None
        current: int | None = pid
        while current is not None:
            if current in owners:
                owner = owners[current]
                break
            if current in roots:
                owner = current
                break
            stat = self.known.get(current)
            if stat is None:
                break
            if stat.pgrp in roots:
                owner = stat.pgrp
                break
            chain.append(current)
            current = stat.ppid if stat.ppid > 1 and stat.ppid not in chain else None
        for visited in chain:
            owners[visited] = owner
        return owner


class _Watchdog:
    """One sampling loop for every running task of an event loop: memory, every ``SAMPLE_INTERVAL_SECONDS``.

    Each sample sums the RSS of each task's processes (:class:`_ProcessTable`) and hands it to its
    supervision, which records the peak and wakes up its watch when over the limit. Deadlines and cancel
    requests are not sampled: the watch waits on them directly.
    """

    def __init__(self) -> None:
        self.table = _ProcessTable()
        self.watched: dict[int, _Supervision] = {}
        self.task: asyncio.Task[None] | None = None

    def add(self, supervision: _Supervision) -> None:
        # Not sampled at once: a task just started holds next to no memory, its shim (a subreaper) keeps
        # its processes its descendants until the next sample finds them, and its peak also comes from the
        # shim's own account at the end. A sample per start cost one /proc listing per task.
        self.watched[supervision.pgid] = supervision
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._loop())

    def remove(self, supervision: _Supervision) -> None:
        if self.watched.get(supervision.pgid) is supervision:
            del self.watched[supervision.pgid]

    def members(self, pgid: int) -> list[int]:
        """The live pids of the task whose shim is ``pgid``, read now."""
        return [stat.pid for stat in self.table.refresh({pgid, *self.watched}).get(pgid, [])]

    def sample(self) -> None:
        watched = dict(self.watched)
        if not watched:
            return
        members = self.table.refresh(set(watched))
        for pgid, supervision in watched.items():
            supervision.on_sample(members.get(pgid, []))

    async def _loop(self) -> None:
        while self.watched:
            await asyncio.sleep(SAMPLE_INTERVAL_SECONDS)
            try:
                self.sample()
            except Exception:  # a bug here must not leave every task unwatched for good
                logger.exception("memory watchdog sample failed")


class _Runtime:
    """What the tasks of one event loop share: the fork server and the watchdog."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._forks: _ForkServerClient | None = None
        self.watchdog = _Watchdog()

    @property
    def forks(self) -> _ForkServerClient:
        if self._forks is None or not self._forks.usable:
            self._forks = _ForkServerClient(self.loop)
        return self._forks

    def close(self) -> None:
        if self._forks is not None:
            self._forks.close()


# Strong references: a runtime owns a child process and a socket, which must be closed, not collected. One
# whose loop has been closed (a finished ``asyncio.run``) is closed at the next use, or at exit.
_RUNTIMES: dict[asyncio.AbstractEventLoop, _Runtime] = {}


def _runtime() -> _Runtime:
    loop = asyncio.get_running_loop()
    for other in [other for other in _RUNTIMES if other.is_closed()]:
        _RUNTIMES.pop(other).close()
    existing = _RUNTIMES.get(loop)
    if existing is not None:
        return existing
    runtime = _RUNTIMES[loop] = _Runtime(loop)
    return runtime


@atexit.register
def _close_runtimes() -> None:
    while _RUNTIMES:
        _RUNTIMES.popitem()[1].close()


async def close_fork_server() -> None:
    """Stop this event loop's fork server (the worker calls it on the way out; tasks must have ended)."""
    runtime = _RUNTIMES.pop(asyncio.get_running_loop(), None)
    if runtime is not None:
        runtime.close()


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
        proc: _TaskProcess,
        runtime: _Runtime,
        on_output: OutputCallback,
        limits: ResourceLimits,
        kill_grace_seconds: float,
        status_fd: int,
    ) -> None:
        self.proc = proc
        self.runtime = runtime
        # The shim's pid: the root of the task's process tree (the shim is a subreaper), the watchdog's key
        # and the name in logs. The task's process group is its entrypoint's (``proc.group``).
        self.pgid = proc.pid
        self.limits = limits
        self.kill_grace_seconds = kill_grace_seconds
        self.status_fd = status_fd
        self.peak_rss_bytes = 0
        self.last_rss_bytes = 0
        # Set by the watchdog's sample once the task's memory is over its limit.
        self.over_limit = asyncio.Event()
        self.status: dict[str, object] | None = None
        self.pumps = [_Pump(proc.stdout, "stdout", on_output), _Pump(proc.stderr, "stderr", on_output)]
        self.pump_tasks = [asyncio.ensure_future(pump.run()) for pump in self.pumps]
        self.exited = asyncio.ensure_future(proc.wait())

    # -- the task's processes ---------------------------------------------------------------------------

    def _task_processes(self) -> list[int]:
        """Live pids of the group and of the shim's descendants, the shim excluded."""
        return self.runtime.watchdog.members(self.pgid)

    def on_sample(self, procs: list[ProcStat]) -> None:
        """The watchdog's sample of the task's live processes (the shim excluded)."""
        total = sum(p.rss_pages for p in procs) * _PAGE_SIZE
        self.last_rss_bytes = total
        self.peak_rss_bytes = max(self.peak_rss_bytes, total)
        if self.limits.memory_bytes is not None and total > self.limits.memory_bytes:
            self.over_limit.set()

    def _signal_group(self, signum: int) -> None:
        # Through the shim, which signals the group only while its leader is unreaped (the group id cannot
        # have been reused), and not at all once the task's end has been reported.
        self.proc.signal_group(signum)

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
            self.proc.kill_shim()
            await self.exited

    async def _terminate(self) -> None:
        loop = asyncio.get_running_loop()
        self._signal_group(signal.SIGTERM)
        deadline = loop.time() + self.kill_grace_seconds
        # The memory limit still holds while the task shuts down.
        over_limit = asyncio.ensure_future(self.over_limit.wait())
        try:
            while (
                not self.exited.done() and not over_limit.done() and (remaining := deadline - loop.time()) > 0
            ):
                await asyncio.wait(
                    [self.exited, over_limit], timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
        finally:
            over_limit.cancel()
        if not self.exited.done():
            await self._kill()

    async def _wait_group_gone(self) -> None:
        if self.status:
            # The shim writes its status only after it has killed and reaped every process of the task
            # (it is a subreaper: no child left means no descendant left), so there is nothing to look for.
            return
        group = self.proc.group
        if group is None:
            return  # the shim died before it started anything
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _GROUP_GONE_SECONDS
        while True:
            # The shim has died: only the group id is left to find stragglers by. Its leader may have been
            # reaped by now, but a group id stays taken while any member lives, and none is left once the
            # scan comes back empty.
            live = [p for p in scan_processes() if p.pgrp == group and p.alive]
            if not live:
                return
            for proc in live:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(proc.pid, signal.SIGKILL)
            if loop.time() >= deadline:
                logger.error("processes %s of task group %d survive SIGKILL", [p.pid for p in live], group)
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
        self.proc.close_transports()

    async def _close_stdin(self) -> None:
        self.proc.close_stdin()

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
        # Nothing is polled here: the shim's end, a cancel, a pump failure, the deadline and the watchdog's
        # over-limit event each wake this up when they happen.
        loop = asyncio.get_running_loop()
        cancelled = asyncio.ensure_future(cancel.wait())
        over_limit = asyncio.ensure_future(self.over_limit.wait())
        try:
            while True:
                if self.exited.done():
                    return None
                self._raise_pump_failure()
                if self.over_limit.is_set():
                    await self._kill()
                    return "out_of_memory"
                if cancel.is_set():
                    await self._terminate()
                    return "cancelled"
                now = loop.time()
                if deadline is not None and now >= deadline:
                    await self._terminate()
                    return "timeout"
                watched = [
                    self.exited,
                    cancelled,
                    over_limit,
                    *(task for task in self.pump_tasks if not task.done()),
                ]
                await asyncio.wait(
                    watched,
                    timeout=None if deadline is None else deadline - now,
                    return_when=asyncio.FIRST_COMPLETED,
                )
        finally:
            for waiter in (cancelled, over_limit):
                waiter.cancel()
            await asyncio.gather(cancelled, over_limit, return_exceptions=True)

    async def run(self, cancel: asyncio.Event, started: float) -> ProcessOutcome:
        loop = asyncio.get_running_loop()
        timeout = self.limits.timeout_seconds
        self.runtime.watchdog.add(self)
        try:
            reason = await self._watch(cancel, None if timeout is None else started + timeout)
            self.status = self._read_status()
            await self._wait_group_gone()
        except BaseException:
            # on_output failed, or we are cancelled ourselves: the task must not outlive its supervision.
            cleanup = asyncio.ensure_future(self.abort())
            with contextlib.suppress(Exception):
                await asyncio.shield(cleanup)
            raise
        finally:
            self.runtime.watchdog.remove(self)
        duration = loop.time() - started
        try:
            await self._drain()
        finally:
            await self._close_stdin()
        # Not even the shim's zombie is left once this returns.
        await self.proc.wait_reaped()
        status = self.status
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
        if self.status is None:
            self.status = self._read_status()
        await self._wait_group_gone()
        for task in self.pump_tasks:
            task.cancel()
        await asyncio.gather(*self.pump_tasks, return_exceptions=True)
        self._close_transport()
        await self._close_stdin()
        await self.proc.wait_reaped()


def _exit_code(status: dict[str, object], returncode: int | None) -> int | None:
    """The entrypoint's own exit status as the shim reported it, else the shim's (which mirrors it)."""
    code = status.get("exit_code")
    if isinstance(code, int):
        return code
    signum = status.get("signal")
    if isinstance(signum, int):
        return -signum
    return returncode
