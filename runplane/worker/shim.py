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

import argparse
import contextlib
import ctypes
import json
import os
import resource
import select
import signal
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import NoReturn

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


@dataclass(frozen=True, slots=True)
class ProcStat:
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


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(
        ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)
    ):
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


@dataclass(frozen=True, slots=True)
class _Args:
    parent_pid: int
    status_fd: int
    cpus: list[int] | None
    command: list[str]


def _parse_args(argv: Sequence[str]) -> _Args:
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
    def __init__(self, args: _Args) -> None:
        self.args = args
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

    def kill_all(self) -> None:
        """SIGKILL every live process of the group and every descendant until none is left."""
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
        stdin_actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)]
        return os.posix_spawnp(
            self.args.command[0],
            self.args.command,
            original_environ(),
            file_actions=stdin_actions,
            # Python ignores SIGPIPE and SIGXFSZ; an ignored disposition would survive exec into the task.
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
            setsigmask=(),
        )

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
            os.write(self.args.status_fd, json.dumps(payload).encode() + b"\n")

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
            signal.signal(signum, lambda signum, frame: None)
        # A handler (even a no-op) is what makes the wake-up fd see SIGCHLD.
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.signal(PARENT_DEATH_SIGNAL, self._on_parent_death_signal)
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


def _exit_by_signal(signum: int) -> NoReturn:
    """End the shim by the signal that ended the entrypoint, so a plain ``wait`` sees the same thing."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(signum, signal.SIG_DFL)
    except (OSError, ValueError):
        pass  # SIGKILL cannot be reset, and needs not be
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    _Shim(_parse_args(sys.argv[1:] if argv is None else argv)).run()


if __name__ == "__main__":
    main()
