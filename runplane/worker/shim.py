"""Supervisor shim a task's entrypoint runs under; the worker starts it, never a user.

A shim leads a session of its own, and runs one task at a time. The worker's fork server (:class:`ForkServer`,
``shim.py --serve``) forks shims and hands each task to an idle one, so that a shim serves task after task and
a task costs neither an interpreter start nor a fork. (``python -I shim.py --parent-pid P --status-fd F
[--cpus 0,1] -- argv...`` runs one task in a shim of its own, then exits the way the entrypoint did.) For each
task the shim:

* is a child subreaper, so every orphaned descendant of the task (``sleep 300 &`` left behind by a shell,
  double forks, even a process that called ``setsid``) is re-parented to it rather than to PID 1. It can
  therefore find and kill all of them, and it reaps them: PID 1 in a container often reaps nothing, and the
  zombies would otherwise keep the group alive for ever. It has no child between tasks, so its descendants
  are always the running task's processes and nothing else;
* dies with the worker: ``PR_SET_PDEATHSIG`` only covers a direct child, so the shim asks for a catchable
  signal on its parent's death, watches its link to the server, and watches its stdin, the task's liveness
  pipe whose only writer is the worker. On any sign it SIGKILLs every descendant, reaps them, and exits;
* pins itself to the requested CPUs (or back to the worker's) before starting the entrypoint, so every
  process of the task inherits the affinity from its very first instruction;
* starts the entrypoint as the leader of a new session, hence of a process group whose id is its pid, with
  the environment the worker gave, stdin on ``/dev/null``, and stdout/stderr the worker's pipes. Signals for
  the group come through the shim, which sends them only while that leader is unreaped;
* when the entrypoint ends, SIGKILLs whatever the task left behind, reaps everything, writes one JSON line
  with the entrypoint's exit status and peak RSS to the status fd, lets go of the task's descriptors (the
  worker then reads the end of its output) and reports the end to the server.

The module is standard-library only and never imports ``runplane``: ``-I -S`` keeps the task's
``PYTHONPATH`` and friends from changing what the shim imports. ``runplane.worker.process`` reuses its /proc
helpers.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import resource
import select
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from types import FrameType

try:
    # signal.signal's own wrapper converts numbers and handlers to enum members (raising and catching a
    # ValueError for a function handler): in a freshly forked shim that touched ~20 pages per call, each a
    # copy-on-write fault. The C function underneath takes and returns plain numbers (and knows SIG_DFL by
    # identity: its own object, not the enum member).
    from _signal import SIG_DFL as _SIG_DFL  # type: ignore[import-not-found]
    from _signal import signal as _set_handler
except ImportError:  # pragma: no cover - not CPython
    _set_handler = signal.signal
    _SIG_DFL = signal.SIG_DFL

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
# Not SIGKILL: the shim must survive its parent's death long enough to kill the task's processes.
PARENT_DEATH_SIGNAL = signal.SIGUSR1
# Signals whose default action would end the shim. A signal sent to the whole group (the worker's SIGTERM on
# timeout or cancel) reaches the task's own processes anyway; the shim must stay to reap them.
SURVIVED_SIGNALS = (
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGUSR2,
    signal.SIGALRM,
)
# Shell conventions, so a missing or non-executable entrypoint reads like it would under sh.
EXIT_CANNOT_EXECUTE = 126
EXIT_NOT_FOUND = 127
KILL_DEADLINE_SECONDS = 10.0
# Only a safety net: children's deaths and the worker's pipe wake the shim up as they happen.
_IDLE_POLL_SECONDS = 1.0
_KILL_ROUND_PAUSE_SECONDS = 0.01


# NamedTuples rather than dataclasses: ``dataclasses`` imports ``inspect`` and ``re``, a few MB of the fork
# server's memory that every fork would copy the page tables of.
class ProcStat(NamedTuple):
    """The few fields of ``/proc/<pid>/stat`` the worker and the shim need."""

    pid: int
    ppid: int
    pgrp: int
    state: str
    rss_pages: int

    @property
    def alive(self) -> bool:
        # A zombie ("Z") or dead ("X") entry runs nothing and holds no memory; it only waits to be reaped.
        return self.state not in ("Z", "X")


def read_proc_stat(pid: int) -> ProcStat | None:
    """Parse ``/proc/<pid>/stat``; ``None`` when the process is gone or the entry is unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    # The command name is parenthesised and may contain spaces and ")" itself: split after the last ")".
    fields = raw[raw.rfind(b")") + 2 :].split()
    try:
        # proc(5) numbering: state is field 3, ppid 4, pgrp 5, rss 24; fields[0] here is field 3.
        return ProcStat(
            pid, int(fields[1]), int(fields[2]), fields[0].decode("ascii", "replace"), int(fields[21])
        )
    except (IndexError, ValueError):
        return None


def scan_processes() -> list[ProcStat]:
    """Every process visible in /proc (one small read each; a few ms on a busy host)."""
    procs: list[ProcStat] = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = read_proc_stat(int(name))
            if stat is not None:
                procs.append(stat)
    return procs


def group_members(procs: Iterable[ProcStat], *, pgid: int, root: int | None = None) -> list[ProcStat]:
    """Processes in group ``pgid``, plus every descendant of ``root`` (which may have left the group)."""
    by_parent: dict[int, list[ProcStat]] = {}
    found: dict[int, ProcStat] = {}
    for proc in procs:
        by_parent.setdefault(proc.ppid, []).append(proc)
        if proc.pgrp == pgid:
            found[proc.pid] = proc
    if root is not None:
        stack = [root]
        seen = {root}
        while stack:
            for child in by_parent.get(stack.pop(), ()):
                if child.pid not in seen:
                    seen.add(child.pid)
                    found[child.pid] = child
                    stack.append(child.pid)
    return sorted(found.values(), key=lambda proc: proc.pid)


def original_environ() -> dict[bytes, bytes]:
    """The environment this process was started with, untouched by the interpreter's start-up."""
    try:
        with open("/proc/self/environ", "rb") as fh:
            raw = fh.read()
    except OSError:
        return dict(os.environb)
    env: dict[bytes, bytes] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key:
            # getenv(3) returns the first of duplicated names; keep the same one.
            env.setdefault(key, value)
    return env


# libc's prctl, looked up once: the fork server does it before it forks, so a shim only calls it (a
# fresh ctypes lookup after the fork writes to ~70 pages shared with the server, each a copy-on-write fault).
_libc_prctl: Any = None


def _prctl(option: int, value: int) -> None:
    global _libc_prctl
    if _libc_prctl is None:
        function = ctypes.CDLL(None, use_errno=True).prctl
        function.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        function.restype = ctypes.c_int
        _libc_prctl = function
    if _libc_prctl(option, value, 0, 0, 0):
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    """A no-op handler: the signal no longer ends the shim (and, for SIGCHLD, reaches the wake-up fd)."""


class _Args(NamedTuple):
    parent_pid: int
    status_fd: int
    cpus: list[int] | None
    command: list[str]
    # (uid, gid) the entrypoint runs as; None: the shim's own (only the fork server's requests set it).
    user: tuple[int, int] | None = None


def _parse_args(argv: Sequence[str]) -> _Args:
    import argparse  # only a shim started on its own parses a command line

    parser = argparse.ArgumentParser(prog="runplane-shim", description="Supervise one runplane task.")
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--status-fd", type=int, required=True)
    parser.add_argument("--cpus", type=lambda text: [int(cpu) for cpu in text.split(",")], default=None)
    if "--" not in argv:
        parser.error("the command must follow '--'")
    split = list(argv).index("--")
    ns = parser.parse_args(list(argv[:split]))
    command = list(argv[split + 1 :])
    if not command:
        parser.error("no command after '--'")
    return _Args(ns.parent_pid, ns.status_fd, ns.cpus, command)


class _Shim:
    """One shim: supervises one task at a time (a forked shim of the fork server: one after another).

    ``link`` is the shim's socket to the fork server (``None`` for a shim started on its own, which runs
    one task and exits the way it ended). Over it the shim reports each task's process group leader and its
    end, and receives the next task and the signals the worker sends to the running task's group.
    """

    def __init__(self, args: _Args, env: dict[bytes, bytes] | None = None, link: Any = None) -> None:
        self.args = args
        # Given by the fork server; a shim started on its own reads its start-up environment instead.
        self.env = env
        self.link = link
        self.inbox = bytearray()
        self.pid = os.getpid()
        self.child_pid: int | None = None
        self.child_status: int | None = None
        # The task's peak RSS: the largest ru_maxrss of any process reaped during it (wait4's figure for a
        # child includes the children it has reaped itself), so a reused shim counts each task on its own.
        self.peak_rss_kb = 0
        self.parent_gone = False
        # A task's liveness pipe (the worker's write end) was closed under it: end the task and the shim.
        self.abandoned = False
        self.wake_r = -1
        self.base_cpus: set[int] | None = None

    def _on_parent_death_signal(self, signum: int, frame: FrameType | None) -> None:
        # PDEATHSIG fires when the *thread* that spawned us ends, even if the worker process lives on.
        if os.getppid() != self.args.parent_pid:
            self.parent_gone = True

    def _check_parent(self) -> None:
        if os.getppid() != self.args.parent_pid:
            self.parent_gone = True

    def _note(self, pid: int, status: int, usage: Any) -> None:
        self.peak_rss_kb = max(self.peak_rss_kb, int(usage.ru_maxrss))
        if pid == self.child_pid:
            self.child_status = status

    def reap(self) -> None:
        """Collect every exited child without blocking, noting the entrypoint's status."""
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._note(pid, status, usage)

    def has_children(self) -> bool:
        """Whether any child (live or not yet reaped) is left, without reaping it."""
        try:
            os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False
        return True

    def kill_all(self) -> None:
        """SIGKILL every live process of the task (every descendant) until none is left."""
        # The shim is a subreaper: every descendant has a chain of live ancestors up to a child of the shim
        # (an orphan is re-parented to the shim before its parent's death is reported), and every member of
        # the task's session descends from it. No child at all therefore means nothing left of the task,
        # and the usual clean end needs no scan of /proc.
        if not self.has_children():
            return
        deadline = time.monotonic() + KILL_DEADLINE_SECONDS
        while True:
            targets = [
                proc
                for proc in group_members(scan_processes(), pgid=self.child_pid or -1, root=self.pid)
                if proc.alive and proc.pid != self.pid
            ]
            if not targets or time.monotonic() >= deadline:
                return
            for proc in targets:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(proc.pid, signal.SIGKILL)
            self.reap()
            # A killed process takes a moment to turn into a zombie; rescanning at once would only re-kill it.
            time.sleep(_KILL_ROUND_PAUSE_SECONDS)

    def reap_all(self) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, 0)
            except ChildProcessError:
                return
            self._note(pid, status, usage)

    def spawn(self) -> int:
        if self.args.user is not None:
            return self._spawn_as(*self.args.user)
        stdin_actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)]
        return os.posix_spawnp(
            self.args.command[0],
            self.args.command,
            original_environ() if self.env is None else self.env,
            file_actions=stdin_actions,
            # Python ignores SIGPIPE and SIGXFSZ; an ignored disposition would survive exec into the task.
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
            setsigmask=(),
            # The entrypoint leads a session (and process group) of its own, whose id is its pid: the
            # task's group holds the task's processes only, never the shim.
            setsid=True,
        )

    def _spawn_as(self, uid: int, gid: int) -> int:
        """Fork, drop to ``uid``/``gid`` (no supplementary groups) and exec the entrypoint.

        ``posix_spawn`` cannot change credentials, hence a plain fork (the shim is single-threaded). The
        child's exec error, if any, comes back on a close-on-exec pipe and is raised here as the
        ``OSError`` ``posix_spawnp`` would have raised, so a missing program still exits 127. The shim
        itself keeps its uid: it must be able to signal, reap and read ``/proc`` of everything the task
        starts, and the task must not be able to signal or trace it.
        """
        env = original_environ() if self.env is None else self.env
        command = self.args.command
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the forked child up to exec
            try:
                os.close(err_r)
                os.setsid()
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.close(devnull)
                for signum in (signal.SIGPIPE, signal.SIGXFSZ):
                    signal.signal(signum, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, [])
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)
                os.execvpe(command[0], command, {k.decode(): v.decode() for k, v in env.items()})
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.write(err_w, str(exc.errno or 0).encode())
            finally:
                os._exit(EXIT_CANNOT_EXECUTE)
        os.close(err_w)
        with os.fdopen(err_r, "rb") as reader:
            failure = reader.read()
        if failure:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            errno_value = int(failure)
            raise OSError(errno_value, os.strerror(errno_value))
        return pid

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.wake_r, 4096):
                pass

    def _read_link(self) -> list[int] | None:
        """Read what the server sent into the inbox; the descriptors that came with it, or ``None`` at EOF."""
        import socket

        try:
            data, fds, _, _ = socket.recv_fds(self.link, 1 << 20, 64)
        except BlockingIOError:
            return []
        except OSError:
            data, fds = b"", []
        if not data:
            for fd in fds:
                os.close(fd)
            return None
        self.inbox += data
        return fds

    def _next_message(self) -> dict[str, Any] | None:
        if len(self.inbox) < _HEADER_BYTES:
            return None
        size = int.from_bytes(self.inbox[:_HEADER_BYTES], "big")
        if size > _MAX_REQUEST_BYTES:
            os._exit(EXIT_CANNOT_EXECUTE)  # not our server talking
        if len(self.inbox) < _HEADER_BYTES + size:
            return None
        message: dict[str, Any] = json.loads(bytes(self.inbox[_HEADER_BYTES : _HEADER_BYTES + size]))
        del self.inbox[: _HEADER_BYTES + size]
        return message

    def _tell(self, payload: dict[str, object]) -> None:
        if self.link is not None:
            with contextlib.suppress(OSError):
                self.link.sendall(_status_line(payload))

    def _on_link_message(self, message: dict[str, Any]) -> None:
        # The worker's SIGTERM (timeout, cancel) or SIGKILL for the task's group, relayed by the server. Sent
        # only while the entrypoint is unreaped: its pid, the group's id, cannot have been reused.
        signum = message.get("signal")
        if isinstance(signum, int) and self.child_pid is not None and self.child_status is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.child_pid, signum)

    def supervise(self) -> None:
        stdin_open = True
        while self.child_status is None:
            self.reap()
            if self.child_status is not None:
                break
            self._check_parent()
            if self.parent_gone or self.abandoned:
                self.kill_all()
                continue
            watched = [self.wake_r, 0] if stdin_open else [self.wake_r]
            if self.link is not None:
                watched.append(self.link.fileno())
            readable, _, _ = select.select(watched, [], [], _IDLE_POLL_SECONDS)
            if 0 in readable:
                try:
                    data = os.read(0, 4096)
                except OSError:
                    data = b""
                if not data:
                    stdin_open = False
                    self.abandoned = True
            if self.wake_r in readable:
                self._drain_wake()
            if self.link is not None and self.link.fileno() in readable:
                fds = self._read_link()
                if fds is None:
                    self.parent_gone = True  # the server is gone
                    continue
                for fd in fds:  # a signal message carries none; never leak what came by mistake
                    os.close(fd)
                while (message := self._next_message()) is not None:
                    self._on_link_message(message)

    def write_status(self, payload: dict[str, object]) -> None:
        # Failing means the worker is gone, and nobody is left to read it.
        with contextlib.suppress(OSError):
            os.write(self.args.status_fd, _status_line(payload))

    def fail(self, code: int, message: str) -> tuple[int | None, int | None]:
        """Give up before the entrypoint runs; the message lands in the task's log. (code, no signal)."""
        with contextlib.suppress(OSError):
            os.write(2, f"runplane: {message}\n".encode(errors="replace"))
        self.write_status({"exit_code": code, "signal": None, "max_rss_kb": 0, "error": message})
        return code, None

    def setup(self) -> None:
        """Once per shim process: subreaper, parent-death signal, signal handlers, the wake-up fd."""
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        # A shim serves task after task: what it held of one (its environment, secrets included) must not be
        # readable through /proc/<pid>/mem or ptrace by a later task of the same user. Its tasks regain
        # dumpability when they exec.
        _prctl(PR_SET_DUMPABLE, 0)
        _prctl(PR_SET_PDEATHSIG, PARENT_DEATH_SIGNAL)
        for signum in SURVIVED_SIGNALS:
            _set_handler(signum, _ignore_signal)
        # A handler (even a no-op) is what makes the wake-up fd see SIGCHLD.
        _set_handler(signal.SIGCHLD, _ignore_signal)
        _set_handler(PARENT_DEATH_SIGNAL, self._on_parent_death_signal)
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        self.wake_r = wake_r
        self.base_cpus = os.sched_getaffinity(0)

    def run_task(self) -> tuple[int | None, int | None]:
        """Run ``self.args``'s command to its end, nothing of it left: (exit code, or None; signal, or None).

        The status line goes to the status fd; the caller has entered the task's directory."""
        self.child_pid = self.child_status = None
        self.peak_rss_kb = 0
        os.set_inheritable(self.args.status_fd, False)
        self._check_parent()
        if self.parent_gone:
            # The worker died before PR_SET_PDEATHSIG took effect, or while this shim was idle: start nothing.
            os._exit(EXIT_CANNOT_EXECUTE)
        cpus = set(self.args.cpus) if self.args.cpus is not None else self.base_cpus
        if cpus is not None and cpus != os.sched_getaffinity(0):
            try:
                os.sched_setaffinity(0, cpus)
            except OSError as exc:
                return self.fail(
                    EXIT_CANNOT_EXECUTE, f"cannot pin to CPUs {self.args.cpus}: {exc.strerror or exc}"
                )
        try:
            self.child_pid = self.spawn()
        except (OSError, ValueError) as exc:
            code = EXIT_NOT_FOUND if isinstance(exc, FileNotFoundError) else EXIT_CANNOT_EXECUTE
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return self.fail(code, f"cannot start {self.args.command[0]!r}: {detail}")
        self._tell({"leader": self.child_pid})
        self.supervise()
        self.kill_all()
        self.reap_all()
        status = self.child_status if self.child_status is not None else 0
        if os.WIFSIGNALED(status):
            signum = os.WTERMSIG(status)
            self.write_status({"exit_code": None, "signal": signum, "max_rss_kb": self.peak_rss_kb})
            return None, signum
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1
        self.write_status({"exit_code": code, "signal": None, "max_rss_kb": self.peak_rss_kb})
        return code, None

    def run(self) -> NoReturn:
        """A shim started on its own: one task, then exit the way its entrypoint did."""
        self.setup()
        code, signum = self.run_task()
        if signum is not None:
            _exit_by_signal(signum)
        os._exit(code if code is not None else 1)

    def serve_tasks(self, cwd: str) -> NoReturn:
        """A forked shim of the fork server: run its first task, then each one the server hands it.

        Between tasks the shim holds nothing of the last one: its stdin, stdout, stderr and status fd are
        ``/dev/null`` again (so the worker reads the end of the task's output), it has no child, and it sits
        in ``/``. It exits when its server or its worker is gone, or when the server closes its link."""
        self.setup()
        while True:
            try:
                os.chdir(cwd)
            except OSError as exc:
                code, signum = self.fail(EXIT_CANNOT_EXECUTE, f"cannot enter {cwd!r}: {exc.strerror or exc}")
            else:
                code, signum = self.run_task()
                with contextlib.suppress(OSError):
                    os.chdir("/")
            devnull = os.open(os.devnull, os.O_RDWR)
            for target in range(SPAWN_FDS):
                os.dup2(devnull, target, inheritable=target < _STATUS_FD_IN_SHIM)
            os.close(devnull)
            self._tell({"done": 1, "code": code, "signal": signum})
            if self.abandoned or self.parent_gone:
                os._exit(EXIT_CANNOT_EXECUTE)
            request, fds = self._wait_for_task()
            if request is None:
                os._exit(0)
            try:
                self.args, self.env = _shim_arguments(request, parent_pid=self.args.parent_pid)
                cwd = str(request["cwd"])
            except (KeyError, TypeError, ValueError, AttributeError):
                os._exit(EXIT_CANNOT_EXECUTE)  # the server checked it already; nothing sane to do
            _take_descriptors(fds)
            _set_path(self.env)

    def _wait_for_task(self) -> tuple[dict[str, Any] | None, list[int]]:
        """The next spawn request and its descriptors; (None, []) when the shim should exit."""
        fds: list[int] = []
        while True:
            message = self._next_message()
            if message is not None:
                if message.get("op") != "spawn":
                    continue  # a late signal for a task already over
                if len(fds) != SPAWN_FDS:
                    # Not what the server sends: exit, so that it reports this task's end at once.
                    os._exit(EXIT_CANNOT_EXECUTE)
                return message, fds
            self._check_parent()
            if self.parent_gone:
                return None, []
            readable, _, _ = select.select([self.link.fileno(), self.wake_r], [], [], _IDLE_POLL_SECONDS)
            if self.wake_r in readable:
                self._drain_wake()
                self.reap()  # nothing should be left, but a child is never left a zombie
            if self.link.fileno() in readable:
                received = self._read_link()
                if received is None:
                    return None, []
                fds.extend(received)


def _take_descriptors(fds: list[int]) -> None:
    """Make ``fds`` (a spawn request's, in :data:`SPAWN_FDS` order) the shim's descriptors 0 to 3."""
    # Move them out of the way first: one of them may already sit on 0-3.
    moved = [os.dup(fd) for fd in fds]
    for fd in fds:
        os.close(fd)
    for target, fd in enumerate(moved):
        os.dup2(fd, target)
        os.close(fd)


def _set_path(env: dict[bytes, bytes]) -> None:
    # posix_spawnp looks the program up on this process's own PATH: make it the task's. Only PATH, and in the
    # C environment only (the entrypoint gets `env` itself): rewriting all of os.environb cost ~80
    # copy-on-write faults per task.
    path = env.get(b"PATH")
    if path is None:
        os.unsetenv(b"PATH")
    else:
        os.putenv(b"PATH", path)


def _status_line(payload: dict[str, object]) -> bytes:
    """``payload`` as one JSON line. Numbers and null are written by hand: the json encoder's first use in a
    forked shim costs ~40 copy-on-write faults, a fifth of what the shim costs in all."""
    if all(value is None or type(value) is int for value in payload.values()):
        fields = ", ".join(f'"{key}": {"null" if value is None else value}' for key, value in payload.items())
        return f"{{{fields}}}\n".encode()
    return json.dumps(payload).encode() + b"\n"


def _exit_by_signal(signum: int) -> NoReturn:
    """End the shim by the signal that ended the entrypoint, so a plain ``wait`` sees the same thing."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        _set_handler(signum, _SIG_DFL)
    except (OSError, ValueError):
        pass  # SIGKILL cannot be reset, and needs not be
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)


# -- the fork server ------------------------------------------------------------------------------------

#: The descriptors a spawn request carries, in this order: the shim's stdin (the liveness pipe whose only
#: writer is the worker), the task's stdout and stderr (write ends), and the status pipe (write end).
SPAWN_FDS = 4
_STATUS_FD_IN_SHIM = 3
# A forked shim's socket to its server.
_LINK_FD_IN_SHIM = 4
# Idle shims kept for the next tasks (as many as the worker ran at once, up to this); more exit.
_MAX_IDLE_SHIMS = 64
_HEADER_BYTES = 4
_MAX_REQUEST_BYTES = 64 * 1024 * 1024


def encode_request(payload: dict[str, object]) -> bytes:
    """One request to the fork server: a 4-byte big-endian length, then the JSON document."""
    body = json.dumps(payload).encode()
    return len(body).to_bytes(_HEADER_BYTES, "big") + body


class ForkServer:
    """Starts and reuses shims, so a task costs neither an interpreter start nor (mostly) a ``fork()``.

    Started once per worker as ``python -I -S shim.py --serve --parent-pid P --socket-fd F``, where F is a
    Unix stream socket to the worker. Requests (worker → server) are :func:`encode_request` frames:

    * ``{"op": "spawn", "id": N, "argv": [...], "env": {...}, "cwd": "...", "cpus": [...] | null,
      "user": [uid, gid] | null}`` with :data:`SPAWN_FDS` descriptors passed (``SCM_RIGHTS``) on the frame's
      first byte. The server hands the task to an idle shim, or forks a new one (a child of the server
      that leads a session of its own and keeps a socket to the server, its *link*). The shim takes the
      descriptors as its stdin (the worker's liveness pipe for this task), stdout, stderr and status fd,
      enters ``cwd`` and runs the command as :meth:`_Shim.run_task` does: subreaper, parent-death signal
      (on the server's death; the liveness pipe ties it to the worker itself), CPU pinning, the entrypoint
      leading a session and process group of its own (the group's id is its pid), killing and reaping
      everything the task left, the status line. With ``user`` the entrypoint (not the shim) runs as that
      uid/gid without supplementary groups, as a Slurm job runs as its user and never as slurmd's.
    * ``{"op": "signal", "pid": P, "signal": S}``: send S to the process group of shim P's running task. The
      shim does it only while its entrypoint, the group's leader, is unreaped, so the group's id cannot
      have been reused; the worker never signals a task's group itself.
    * ``{"op": "kill", "pid": P}``: SIGKILL shim P itself (it could not end its task in time).
    * ``{"op": "reap", "pid": P}``: the worker has seen P's task end. A shim still alive becomes idle (the
      next task may go to it); one that has died is reaped. The server answers ``{"reaped": P}``.

    Answers (server → worker) are JSON lines: ``{"id": N, "pid": P}`` or ``{"id": N, "errno": E, "error":
    "..."}`` for a spawn, ``{"leader": L, "pid": P}`` once shim P has started its entrypoint (pid L), and
    ``{"exit": P, "code": C, "signal": S}`` when shim P's task has ended (or shim P has died). A shim that
    has died is kept as a zombie (``waitid(..., WNOWAIT)``) until the worker says ``reap``.

    The server dies with the worker (``PR_SET_PDEATHSIG`` = SIGKILL, and it exits at the socket's end); its
    shims then get their own parent-death signal and the end of their link, and the stdin of a running
    task's shim (the worker's liveness pipe) reaches EOF: any of them makes a shim kill its task's
    processes and exit.
    """

    def __init__(self, sock_fd: int, parent_pid: int) -> None:
        import socket

        self.sock = socket.socket(fileno=sock_fd)
        self.sock.setblocking(True)
        self.parent_pid = parent_pid
        # Shim pid → its link; and each shim's state: "busy" (a task runs), "ended" (its end was reported,
        # the worker has not said reap), "idle", or "dead" (exited, kept a zombie until reap).
        self.links: dict[int, Any] = {}
        self.link_inbox: dict[int, bytearray] = {}
        self.state: dict[int, str] = {}
        self.idle: list[int] = []
        self.inbox = bytearray()
        self.fds: list[int] = []

    def reply(self, payload: dict[str, object]) -> None:
        self.sock.sendall(_status_line(payload))

    def serve(self) -> NoReturn:
        import socket

        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != self.parent_pid:
            os._exit(0)
        for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(signum, signal.SIG_IGN)
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        self.wake_fds = (wake_r, wake_w)
        # Everything imported so far lives as long as the server: out of the collector's sight, a collection
        # (here, or in a shim) never writes to the pages it sits on, which forked shims share.
        gc.freeze()
        while True:
            sock_fd = self.sock.fileno()
            by_fd = {link.fileno(): pid for pid, link in self.links.items()}
            readable, _, _ = select.select([sock_fd, wake_r, *by_fd], [], [], _IDLE_POLL_SECONDS)
            if wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_r, 4096):
                        pass
            # What shims said first: a shim's "done" must be relayed before its death is noticed.
            for fd in readable:
                if fd in by_fd:
                    self.read_link(by_fd[fd])
            self.collect()
            if sock_fd in readable:
                try:
                    data, fds, _, _ = socket.recv_fds(self.sock, 1 << 20, 64)
                except OSError:
                    data, fds = b"", []
                self.fds.extend(fds)
                if not data:
                    os._exit(0)  # the worker is gone; the shims see it too and end their tasks
                self.inbox += data
                self.handle_requests()
            if os.getppid() != self.parent_pid:
                os._exit(0)

    def read_link(self, pid: int) -> None:
        link = self.links.get(pid)
        if link is None:
            return
        try:
            data = link.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.drop_link(pid)  # the shim is exiting; collect() reports it
            return
        inbox = self.link_inbox.setdefault(pid, bytearray())
        inbox += data
        while (newline := inbox.find(b"\n")) >= 0:
            message = json.loads(bytes(inbox[:newline]))
            del inbox[: newline + 1]
            if "leader" in message:
                self.reply({"leader": message["leader"], "pid": pid})
            elif "done" in message and self.state.get(pid) == "busy":
                self.state[pid] = "ended"
                self.reply({"exit": pid, "code": message.get("code"), "signal": message.get("signal")})

    def drop_link(self, pid: int) -> None:
        link = self.links.pop(pid, None)
        self.link_inbox.pop(pid, None)
        if link is not None:
            link.close()
        if pid in self.idle:
            self.idle.remove(pid)

    def handle_requests(self) -> None:
        while len(self.inbox) >= _HEADER_BYTES:
            size = int.from_bytes(self.inbox[:_HEADER_BYTES], "big")
            if size > _MAX_REQUEST_BYTES:
                os._exit(EXIT_CANNOT_EXECUTE)  # not our worker talking; nothing sane to do
            if len(self.inbox) < _HEADER_BYTES + size:
                return
            frame = bytes(self.inbox[: _HEADER_BYTES + size])
            request = json.loads(frame[_HEADER_BYTES:])
            del self.inbox[: _HEADER_BYTES + size]
            op = request.get("op")
            if op == "spawn":
                fds, self.fds = self.fds[:SPAWN_FDS], self.fds[SPAWN_FDS:]
                self.spawn(request, fds, frame)
            elif op == "reap":
                self.release(int(request["pid"]))
            elif op == "signal":
                pid = int(request["pid"])
                if self.state.get(pid) == "busy" and pid in self.links:
                    with contextlib.suppress(OSError):
                        self.links[pid].sendall(encode_request({"signal": int(request["signal"])}))
            elif op == "kill":
                pid = int(request["pid"])
                if self.state.get(pid) in ("busy", "ended"):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)

    def release(self, pid: int) -> None:
        state = self.state.get(pid)
        if state == "dead":
            del self.state[pid]
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        elif state == "ended":
            if pid in self.links and len(self.idle) < _MAX_IDLE_SHIMS:
                self.state[pid] = "idle"
                self.idle.append(pid)
            else:
                self.state[pid] = "idle"
                self.drop_link(pid)  # the shim exits at its link's end; collect() reaps it
        else:
            return
        self.reply({"reaped": pid})

    def spawn(self, request: dict[str, object], fds: list[int], frame: bytes) -> None:
        import socket

        request_id = request.get("id")
        try:
            cwd = str(request["cwd"])
            if len(fds) != SPAWN_FDS:
                raise OSError(0, f"expected {SPAWN_FDS} descriptors, got {len(fds)}")
            # Checked here, in the server, so that a bad request gets an answer and never reaches a shim.
            args, env = _shim_arguments(request, parent_pid=os.getpid())
            if not os.path.isdir(cwd):
                raise FileNotFoundError(2, f"No such directory: {cwd!r}", cwd)
            pid = 0
            while self.idle and not pid:
                candidate = self.idle.pop()
                try:
                    # The descriptors ride on the frame's first byte, as on the worker's socket.
                    socket.send_fds(self.links[candidate], [frame[:1]], fds)
                    self.links[candidate].sendall(frame[1:])
                except (OSError, KeyError):
                    self.drop_link(candidate)
                    continue
                pid = candidate
            if not pid:
                pid = self.fork_shim(args, env, cwd, fds)
        except (OSError, KeyError, TypeError, ValueError, AttributeError) as exc:
            for fd in fds:
                os.close(fd)
            errno_value = exc.errno or 0 if isinstance(exc, OSError) else 0
            message = (exc.strerror if isinstance(exc, OSError) else None) or f"bad spawn request: {exc!r}"
            self.reply({"id": request_id, "errno": errno_value, "error": message})
            return
        for fd in fds:
            os.close(fd)
        self.state[pid] = "busy"
        self.reply({"id": request_id, "pid": pid})

    def fork_shim(self, args: _Args, env: dict[bytes, bytes], cwd: str, fds: list[int]) -> int:
        import socket

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            pid = os.fork()
        except BaseException:
            ours.close()
            theirs.close()
            raise
        if pid == 0:
            try:
                ours.detach()
                self.become_shim(args, env, cwd, fds, theirs)
            finally:
                os._exit(EXIT_CANNOT_EXECUTE)
        theirs.close()
        # Blocking: a frame is sent whole (it is read only when select says so, never blocking there).
        self.links[pid] = ours
        return pid

    def become_shim(
        self, args: _Args, env: dict[bytes, bytes], cwd: str, fds: list[int], link: Any
    ) -> NoReturn:
        """In the forked child: turn into a shim and run its first task (never returns)."""
        signal.set_wakeup_fd(-1)
        # The server's SIGCHLD handler and its ignored SIGINT/SIGHUP/SIGQUIT are replaced by setup() (before
        # anything is started); SIGCHLD's default until then keeps its handler from running here.
        _set_handler(signal.SIGCHLD, _SIG_DFL)
        os.setsid()
        # The server's descriptors are not the shim's: its socket to the worker and the other shims' links
        # (their Python objects are detached, never to close a number reused since).
        self.sock.detach()
        for other in self.links.values():
            other.detach()
        self.links.clear()
        # The link first goes above the numbers about to be taken (it may sit on one of 0-4 itself).
        import fcntl
        import socket

        link_fd = link.detach()
        high = fcntl.fcntl(link_fd, fcntl.F_DUPFD_CLOEXEC, _LINK_FD_IN_SHIM + 1)
        os.close(link_fd)
        _take_descriptors(fds)
        os.dup2(high, _LINK_FD_IN_SHIM, inheritable=False)
        os.close(high)
        os.closerange(_LINK_FD_IN_SHIM + 1, os.sysconf("SC_OPEN_MAX"))

        _set_path(env)
        # Blocking, like the server's end: read only when select says so, and what it sends is small.
        shim = _Shim(args, env=env, link=socket.socket(fileno=_LINK_FD_IN_SHIM))
        shim.serve_tasks(cwd)

    def collect(self) -> None:
        """Notice every shim that has died: report a task it was running, and reap an idle one at once.
        A shim that ended with a task is kept a zombie until the worker says ``reap``."""
        for pid, state in list(self.state.items()):
            if state == "dead":
                continue
            try:
                info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                self.state.pop(pid, None)
                self.drop_link(pid)
                continue
            if info is None or info.si_pid == 0:
                continue
            self.drop_link(pid)
            if state == "idle":
                del self.state[pid]
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
                continue
            self.state[pid] = "dead"
            if state == "busy":
                exited = info.si_code == os.CLD_EXITED
                self.reply(
                    {
                        "exit": pid,
                        "code": info.si_status if exited else None,
                        "signal": None if exited else info.si_status,
                    }
                )


def _shim_arguments(request: dict[str, Any], *, parent_pid: int) -> tuple[_Args, dict[bytes, bytes]]:
    """A spawn request's command, CPUs and user as the shim's arguments, and its environment as bytes."""
    cpus = request.get("cpus")
    args = _Args(
        parent_pid=parent_pid,
        status_fd=_STATUS_FD_IN_SHIM,
        cpus=[int(cpu) for cpu in cpus] if isinstance(cpus, list) else None,
        command=[str(arg) for arg in request["argv"]],
        user=_request_user(request.get("user")),
    )
    env = {str(key).encode(): str(value).encode() for key, value in request["env"].items()}
    return args, env


def _request_user(value: object) -> tuple[int, int] | None:
    """A spawn request's ``user``: ``[uid, gid]`` the entrypoint drops to, or absent/null."""
    if isinstance(value, list) and len(value) == 2:
        return int(value[0]), int(value[1])
    return None


def main(argv: Sequence[str] | None = None) -> NoReturn:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["--serve"]:
        # The worker's fixed command line is read by hand: argparse (and the ``re`` and ``gettext`` it
        # imports) would sit in the server's memory, copied on every fork. Anything else gets argparse's
        # usage error.
        options = dict(zip(arguments[1::2], arguments[2::2], strict=False))
        if len(arguments) == 5 and options.keys() == {"--parent-pid", "--socket-fd"}:
            with contextlib.suppress(ValueError):
                ForkServer(int(options["--socket-fd"]), int(options["--parent-pid"])).serve()
        import argparse

        parser = argparse.ArgumentParser(prog="runplane-shim --serve", description="Fork shims for a worker.")
        parser.add_argument("--serve", action="store_true")
        parser.add_argument("--parent-pid", type=int, required=True)
        parser.add_argument("--socket-fd", type=int, required=True)
        ns = parser.parse_args(arguments)
        ForkServer(ns.socket_fd, ns.parent_pid).serve()
    _Shim(_parse_args(arguments)).run()


if __name__ == "__main__":
    main()
