"""Supervisor shim a task's entrypoint runs under; the worker starts it, never a user.

The worker runs ``python -I shim.py --parent-pid P --status-fd F [--cpus 0,1] -- argv...`` as the leader of a
new session, hence of a new process group whose id is the shim's pid. The shim then:

* makes itself a child subreaper, so every orphaned descendant of the task (``sleep 300 &`` left behind by a
  shell, double forks, even a process that called ``setsid``) is re-parented to it rather than to PID 1. It
  can therefore find and kill all of them, and it reaps them: PID 1 in a container often reaps nothing, and
  the zombies would otherwise keep the group alive for ever;
* dies with the worker: ``PR_SET_PDEATHSIG`` only covers a direct child, so the shim asks for a catchable
  signal on the worker's death and also watches its stdin, a pipe whose only writer is the worker. On either
  sign it SIGKILLs the whole group and every descendant, reaps them, and exits;
* pins itself to the requested CPUs before starting the entrypoint, so every process of the task inherits
  the affinity from its very first instruction;
* starts the entrypoint with the environment the worker gave (read back from ``/proc/self/environ``:
  Python's own start-up may already have added ``LC_CTYPE`` to ``os.environ``), stdin on ``/dev/null``, and
  stdout/stderr inherited from the worker's pipes;
* when the entrypoint ends, SIGKILLs whatever the task left behind, reaps everything, writes one JSON line
  with the entrypoint's exit status and peak RSS to the status fd, and exits the way the entrypoint did.

The module is standard-library only and never imports ``runplane``: ``-I`` keeps the task's ``PYTHONPATH``
and friends from changing what the shim imports. ``runplane.worker.process`` reuses its /proc helpers.
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
    def __init__(self, args: _Args, env: dict[bytes, bytes] | None = None) -> None:
        self.args = args
        # Given by the fork server; a shim started on its own reads its start-up environment instead.
        self.env = env
        self.pid = os.getpid()
        self.child_pid: int | None = None
        self.child_status: int | None = None
        self.parent_gone = False

    def _on_parent_death_signal(self, signum: int, frame: FrameType | None) -> None:
        # PDEATHSIG fires when the *thread* that spawned us ends, even if the worker process lives on.
        if os.getppid() != self.args.parent_pid:
            self.parent_gone = True

    def _check_parent(self) -> None:
        if os.getppid() != self.args.parent_pid:
            self.parent_gone = True

    def reap(self) -> None:
        """Collect every exited child without blocking, noting the entrypoint's status."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.child_pid:
                self.child_status = status

    def has_children(self) -> bool:
        """Whether any child (live or not yet reaped) is left, without reaping it."""
        try:
            os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False
        return True

    def kill_all(self) -> None:
        """SIGKILL every live process of the group and every descendant until none is left."""
        # The shim is a subreaper: every descendant has a chain of live ancestors up to a child of the shim
        # (an orphan is re-parented to the shim before its parent's death is reported), and every member of
        # the shim's session descends from it. No child at all therefore means nothing left of the task,
        # and the usual clean end needs no scan of /proc.
        if not self.has_children():
            return
        deadline = time.monotonic() + KILL_DEADLINE_SECONDS
        while True:
            targets = [
                proc
                for proc in group_members(scan_processes(), pgid=self.pid, root=self.pid)
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
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return
            if pid == self.child_pid:
                self.child_status = status

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

    def supervise(self) -> None:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        stdin_open = True
        while self.child_status is None:
            self.reap()
            if self.child_status is not None:
                break
            self._check_parent()
            if self.parent_gone:
                self.kill_all()
                continue
            watched = [wake_r, 0] if stdin_open else [wake_r]
            readable, _, _ = select.select(watched, [], [], _IDLE_POLL_SECONDS)
            if 0 in readable:
                try:
                    data = os.read(0, 4096)
                except OSError:
                    data = b""
                if not data:
                    stdin_open = False
                    self.parent_gone = True
            if wake_r in readable:
                try:
                    while os.read(wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass

    def write_status(self, payload: dict[str, object]) -> None:
        # Failing means the worker is gone, and nobody is left to read it.
        with contextlib.suppress(OSError):
            os.write(self.args.status_fd, _status_line(payload))

    def fail(self, code: int, message: str) -> NoReturn:
        """Give up before the entrypoint runs; the message lands in the task's log."""
        print(f"runplane: {message}", file=sys.stderr, flush=True)
        self.write_status({"exit_code": code, "signal": None, "max_rss_kb": 0, "error": message})
        os._exit(code)

    def run(self) -> NoReturn:
        os.set_inheritable(self.args.status_fd, False)
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        _prctl(PR_SET_PDEATHSIG, PARENT_DEATH_SIGNAL)
        for signum in SURVIVED_SIGNALS:
            _set_handler(signum, _ignore_signal)
        # A handler (even a no-op) is what makes the wake-up fd see SIGCHLD.
        _set_handler(signal.SIGCHLD, _ignore_signal)
        _set_handler(PARENT_DEATH_SIGNAL, self._on_parent_death_signal)
        self._check_parent()
        if self.parent_gone:
            # The worker died before PR_SET_PDEATHSIG took effect: start nothing.
            os._exit(EXIT_CANNOT_EXECUTE)
        if self.args.cpus is not None:
            try:
                os.sched_setaffinity(0, self.args.cpus)
            except OSError as exc:
                self.fail(EXIT_CANNOT_EXECUTE, f"cannot pin to CPUs {self.args.cpus}: {exc.strerror or exc}")
        try:
            self.child_pid = self.spawn()
        except (OSError, ValueError) as exc:
            code = EXIT_NOT_FOUND if isinstance(exc, FileNotFoundError) else EXIT_CANNOT_EXECUTE
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.fail(code, f"cannot start {self.args.command[0]!r}: {detail}")
        self.supervise()
        self.kill_all()
        self.reap_all()
        status = self.child_status if self.child_status is not None else 0
        max_rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if os.WIFSIGNALED(status):
            self.write_status({"exit_code": None, "signal": os.WTERMSIG(status), "max_rss_kb": max_rss_kb})
            _exit_by_signal(os.WTERMSIG(status))
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1
        self.write_status({"exit_code": code, "signal": None, "max_rss_kb": max_rss_kb})
        os._exit(code)


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
_HEADER_BYTES = 4
_MAX_REQUEST_BYTES = 64 * 1024 * 1024


def encode_request(payload: dict[str, object]) -> bytes:
    """One request to the fork server: a 4-byte big-endian length, then the JSON document."""
    body = json.dumps(payload).encode()
    return len(body).to_bytes(_HEADER_BYTES, "big") + body


class ForkServer:
    """Forks an already-imported shim per task, so a task costs a ``fork()`` instead of an interpreter start.

    Started once per worker as ``python -I shim.py --serve --parent-pid P --socket-fd F``, where F is a Unix
    stream socket to the worker. Requests (worker → server) are :func:`encode_request` frames:

    * ``{"op": "spawn", "id": N, "argv": [...], "env": {...}, "cwd": "...", "cpus": [...] | null,
      "user": [uid, gid] | null}`` with
      :data:`SPAWN_FDS` descriptors passed (``SCM_RIGHTS``) on the frame's first byte. The server forks; the
      child starts a new session (its pid names the task's process group, as before), takes the descriptors
      as its stdin, stdout, stderr and status fd, closes everything else, enters ``cwd``, sets the task's
      environment and runs exactly what a shim started on its own runs (:meth:`_Shim.run`): subreaper,
      parent-death signal (now on the server's death; the liveness pipe still ties it to the worker itself),
      CPU pinning, reaping, the status line. With ``user`` the entrypoint (not the shim) runs as that
      uid/gid without supplementary groups, as a Slurm job runs as its user and never as slurmd's.
    * ``{"op": "reap", "pid": P}``: the worker has seen P's end and will not signal its group again; the
      server reaps P and answers ``{"reaped": P}``.

    Answers (server → worker) are JSON lines: ``{"id": N, "pid": P}`` or ``{"id": N, "errno": E, "error":
    "..."}`` for a spawn, and ``{"exit": P, "code": C, "signal": S}`` when shim P has ended. An ended shim
    is kept as a zombie (``waitid(..., WNOWAIT)``) until the worker says ``reap``: its pid, hence its
    process group id, cannot be reused while the worker may still signal that group.

    The server dies with the worker (``PR_SET_PDEATHSIG`` = SIGKILL, and it exits at the socket's end); its
    shims then get their own parent-death signal, and their stdin (the worker's liveness pipe) reaches EOF:
    either makes a shim kill its task's processes.
    """

    def __init__(self, sock_fd: int, parent_pid: int) -> None:
        import socket

        self.sock = socket.socket(fileno=sock_fd)
        self.sock.setblocking(True)
        self.parent_pid = parent_pid
        self.running: set[int] = set()
        self.held: set[int] = set()
        self.inbox = bytearray()
        self.fds: list[int] = []

    def reply(self, payload: dict[str, object]) -> None:
        self.sock.sendall(json.dumps(payload).encode() + b"\n")

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
            readable, _, _ = select.select([sock_fd, wake_r], [], [], _IDLE_POLL_SECONDS)
            if wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_r, 4096):
                        pass
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

    def handle_requests(self) -> None:
        while len(self.inbox) >= _HEADER_BYTES:
            size = int.from_bytes(self.inbox[:_HEADER_BYTES], "big")
            if size > _MAX_REQUEST_BYTES:
                os._exit(EXIT_CANNOT_EXECUTE)  # not our worker talking; nothing sane to do
            if len(self.inbox) < _HEADER_BYTES + size:
                return
            request = json.loads(bytes(self.inbox[_HEADER_BYTES : _HEADER_BYTES + size]))
            del self.inbox[: _HEADER_BYTES + size]
            if request.get("op") == "spawn":
                fds, self.fds = self.fds[:SPAWN_FDS], self.fds[SPAWN_FDS:]
                self.spawn(request, fds)
            elif request.get("op") == "reap":
                pid = int(request["pid"])
                if pid in self.held:
                    self.held.discard(pid)
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, 0)
                    self.reply({"reaped": pid})

    def spawn(self, request: dict[str, object], fds: list[int]) -> None:
        request_id = request.get("id")
        try:
            cwd = str(request["cwd"])
            if len(fds) != SPAWN_FDS:
                raise OSError(0, f"expected {SPAWN_FDS} descriptors, got {len(fds)}")
            # Read before the fork, here: every object the child builds or touches after it costs a
            # copy-on-write fault of the page it sits on (a shim's main cost), while the server's own
            # pages written here are mostly written anyway.
            args, env = _shim_arguments(request, parent_pid=os.getpid())
            if not os.path.isdir(cwd):
                raise FileNotFoundError(2, f"No such directory: {cwd!r}", cwd)
            pid = os.fork()
        except (OSError, KeyError, TypeError, ValueError, AttributeError) as exc:
            for fd in fds:
                os.close(fd)
            errno_value = exc.errno or 0 if isinstance(exc, OSError) else 0
            message = (exc.strerror if isinstance(exc, OSError) else None) or f"bad spawn request: {exc!r}"
            self.reply({"id": request_id, "errno": errno_value, "error": message})
            return
        if pid == 0:
            try:
                self.become_shim(args, env, cwd, fds)
            finally:
                os._exit(EXIT_CANNOT_EXECUTE)
        for fd in fds:
            os.close(fd)
        self.running.add(pid)
        self.reply({"id": request_id, "pid": pid})

    def become_shim(self, args: _Args, env: dict[bytes, bytes], cwd: str, fds: list[int]) -> NoReturn:
        """In the forked child: turn into the task's shim (never returns)."""
        # The shim allocates little and exits with os._exit: a collection would only copy pages.
        gc.disable()
        signal.set_wakeup_fd(-1)
        # The server's SIGCHLD handler and its ignored SIGINT/SIGHUP/SIGQUIT are replaced by run() (before
        # anything is started); SIGCHLD's default until then keeps its handler from running here.
        _set_handler(signal.SIGCHLD, _SIG_DFL)
        os.setsid()
        # Move the passed descriptors out of the way first: one of them may already sit on 0-3.
        moved = [os.dup(fd) for fd in fds]
        for target, fd in enumerate(moved):
            os.dup2(fd, target)
        os.closerange(_STATUS_FD_IN_SHIM + 1, os.sysconf("SC_OPEN_MAX"))
        # posix_spawnp looks the program up on this process's own PATH: make it the task's. Only PATH, and
        # in the C environment only (the entrypoint gets `env` itself): rewriting all of os.environb here
        # cost ~80 copy-on-write faults per task.
        path = env.get(b"PATH")
        if path is None:
            os.unsetenv(b"PATH")
        else:
            os.putenv(b"PATH", path)
        shim = _Shim(args, env=env)
        try:
            os.chdir(cwd)
        except OSError as exc:
            shim.fail(EXIT_CANNOT_EXECUTE, f"cannot enter {cwd!r}: {exc.strerror or exc}")
        shim.run()

    def collect(self) -> None:
        """Report every shim that has ended, keeping it a zombie until the worker says ``reap``."""
        for pid in list(self.running):
            try:
                info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                self.running.discard(pid)
                continue
            if info is None or info.si_pid == 0:
                continue
            self.running.discard(pid)
            self.held.add(pid)
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
