"""run_process against real subprocesses: output, exit codes, limits, cancel, and no process left behind."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil
import pytest

from runplane.worker.process import MAX_LINE_BYTES, ProcessOutcome, ResourceLimits, run_process
from tests.support.processes import start_allowance_seconds

PY = sys.executable
REPO_ROOT = Path(__file__).resolve().parents[3]
MiB = 1024 * 1024

Line = tuple[str, str]


def base_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def run_task(
    argv: list[str],
    cwd: Path,
    *,
    limits: ResourceLimits | None = None,
    env: dict[str, str] | None = None,
    grace: float = 5.0,
    cancel_on: Callable[[str, str], bool] | None = None,
) -> tuple[ProcessOutcome, list[Line]]:
    lines: list[Line] = []

    async def main() -> ProcessOutcome:
        cancel = asyncio.Event()

        async def on_output(stream: str, line: str) -> None:
            lines.append((stream, line))
            if cancel_on is not None and cancel_on(stream, line):
                cancel.set()

        return await run_process(
            argv,
            cwd=cwd,
            env=base_env() if env is None else env,
            limits=limits or ResourceLimits(),
            on_output=on_output,
            cancel=cancel,
            kill_grace_seconds=grace,
        )

    return asyncio.run(main()), lines


def python(code: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code)]


def stream(lines: list[Line], name: str) -> list[str]:
    return [line for stream_name, line in lines if stream_name == name]


def value_after(lines: list[Line], prefix: str) -> int:
    for _, line in lines:
        if line.startswith(prefix):
            return int(line.removeprefix(prefix))
    raise AssertionError(f"no line starting with {prefix!r} in {lines!r}")


def group_processes(pgid: int) -> list[psutil.Process]:
    """Every process (zombies included) whose process group is ``pgid``, found independently of runplane."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(ProcessLookupError, psutil.NoSuchProcess):
            if os.getpgid(proc.pid) == pgid:
                found.append(proc)
    return found


def live(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
    return alive


def pid_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


# Prints its process group and the pid of a grandchild, then waits: the shape of most tests below.
GRANDCHILD_TASK = """
    import os, subprocess, sys, time
    child = subprocess.Popen(["sleep", "300"])
    print("pgid", os.getpgid(0), flush=True)
    print("grandchild", child.pid, flush=True)
    time.sleep(300)
"""


# -- output ---------------------------------------------------------------------------------------------


def test_lines_stream_in_order_per_stream(tmp_path: Path) -> None:
    outcome, lines = run_task(
        python("""
            import sys
            for i in range(3000):
                print(f"out {i}")
                print(f"err {i}", file=sys.stderr)
        """),
        tmp_path,
    )
    assert outcome.exit_code == 0
    assert outcome.reason is None
    assert stream(lines, "stdout") == [f"out {i}" for i in range(3000)]
    assert stream(lines, "stderr") == [f"err {i}" for i in range(3000)]


def test_non_utf8_crlf_and_unterminated_last_line(tmp_path: Path) -> None:
    outcome, lines = run_task(
        python(r"""
            import sys
            sys.stdout.buffer.write(b"caf\xe9\n\xff\xfe binary\r\nno newline at the end")
        """),
        tmp_path,
    )
    assert outcome.exit_code == 0
    assert stream(lines, "stdout") == ["caf\ufffd", "\ufffd\ufffd binary", "no newline at the end"]


def test_very_long_lines_arrive_in_pieces_without_breaking_characters(tmp_path: Path) -> None:
    outcome, lines = run_task(
        python("""
            import sys
            sys.stdout.write("x" * 300_000 + "\\n")
            sys.stdout.write("é" * 100_001 + "\\n")
            sys.stdout.write("after\\n")
        """),
        tmp_path,
    )
    assert outcome.exit_code == 0
    out = stream(lines, "stdout")
    assert out[-1] == "after"
    pieces = out[:-1]
    assert all(len(piece.encode()) <= MAX_LINE_BYTES for piece in pieces)
    assert "".join(pieces) == "x" * 300_000 + "é" * 100_001
    assert "\ufffd" not in "".join(pieces)


# -- how it ends ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exit_code", "reason"),
    [
        ("raise SystemExit(0)", 0, None),
        ("raise SystemExit(3)", 3, "exit_code"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", -signal.SIGTERM, "exit_code"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", -signal.SIGKILL, "exit_code"),
    ],
)
def test_exit_codes(tmp_path: Path, code: str, exit_code: int, reason: str | None) -> None:
    outcome, _ = run_task(python(code), tmp_path)
    assert outcome.exit_code == exit_code
    assert outcome.reason == reason
    assert outcome.duration_seconds > 0


def test_missing_program_exits_127_with_a_message(tmp_path: Path) -> None:
    outcome, lines = run_task(["no-such-program-runplane"], tmp_path)
    assert outcome.exit_code == 127
    assert outcome.reason == "exit_code"
    assert any("no-such-program-runplane" in line for line in stream(lines, "stderr"))


def test_env_is_exactly_what_was_given(tmp_path: Path) -> None:
    env_program = shutil.which("env")
    assert env_program is not None
    outcome, lines = run_task([env_program], tmp_path, env={"FOO": "bar baz", "SECRET_TOKEN": "t0k3n"})
    assert outcome.exit_code == 0
    # Nothing of the worker's environment, nor what the shim's interpreter adds for itself (LC_CTYPE).
    assert sorted(stream(lines, "stdout")) == ["FOO=bar baz", "SECRET_TOKEN=t0k3n"]


def test_cwd_and_stdin(tmp_path: Path) -> None:
    outcome, lines = run_task(
        python("""
            import os, sys
            print(os.getcwd())
            print(repr(sys.stdin.read()))
        """),
        tmp_path,
    )
    assert outcome.exit_code == 0
    # stdin is /dev/null: a task waiting for input ends instead of hanging.
    assert stream(lines, "stdout") == [str(tmp_path), "''"]


@pytest.mark.parametrize("cpu", sorted(os.sched_getaffinity(0)))
def test_cpu_pinning_applies_to_the_task_and_its_children(tmp_path: Path, cpu: int) -> None:
    outcome, lines = run_task(
        python("""
            import os, subprocess, sys
            print("task", sorted(os.sched_getaffinity(0)), flush=True)
            code = "import os; print('child', sorted(os.sched_getaffinity(0)))"
            subprocess.run([sys.executable, "-c", code], check=True)
        """),
        tmp_path,
        limits=ResourceLimits(cpu_ids=[cpu]),
    )
    assert outcome.exit_code == 0
    assert stream(lines, "stdout") == [f"task [{cpu}]", f"child [{cpu}]"]


def test_invalid_limits_are_refused(tmp_path: Path) -> None:
    foreign_cpu = max(os.sched_getaffinity(0)) + 1
    for limits in (
        ResourceLimits(cpu_ids=[]),
        ResourceLimits(cpu_ids=[foreign_cpu]),
        ResourceLimits(memory_bytes=0),
        ResourceLimits(timeout_seconds=0),
    ):
        with pytest.raises(ValueError, match=r"cpu_ids|memory_bytes|timeout_seconds"):
            run_task(["true"], tmp_path, limits=limits)
    with pytest.raises(ValueError, match="argv"):
        run_task([], tmp_path)


# -- limits ---------------------------------------------------------------------------------------------


def test_timeout_terminates_the_whole_group(tmp_path: Path) -> None:
    # The deadline must outlast the task's own start, or it ends before it printed what we check.
    timeout = start_allowance_seconds()
    outcome, lines = run_task(
        python(GRANDCHILD_TASK), tmp_path, limits=ResourceLimits(timeout_seconds=timeout)
    )
    assert outcome.reason == "timeout"
    assert outcome.exit_code == -signal.SIGTERM
    # Ended by the timeout, within the kill grace (5 s) and a busy machine's slack, not by the sleep.
    assert timeout <= outcome.duration_seconds < timeout + 30
    assert group_processes(value_after(lines, "pgid ")) == []
    assert not pid_alive(value_after(lines, "grandchild "))


def test_timeout_kills_what_ignores_sigterm_after_the_grace(tmp_path: Path) -> None:
    outcome, lines = run_task(
        python("""
            import os, signal, subprocess, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            # The ignored disposition is inherited: the grandchild ignores SIGTERM too.
            child = subprocess.Popen(["sleep", "300"], restore_signals=False)
            print("pgid", os.getpgid(0), flush=True)
            print("grandchild", child.pid, flush=True)
            time.sleep(300)
        """),
        tmp_path,
        limits=ResourceLimits(timeout_seconds=start_allowance_seconds()),
        grace=1.0,
    )
    assert outcome.reason == "timeout"
    assert outcome.exit_code == -signal.SIGKILL
    assert outcome.duration_seconds >= start_allowance_seconds() + 1.0
    assert group_processes(value_after(lines, "pgid ")) == []
    assert not pid_alive(value_after(lines, "grandchild "))


def test_memory_limit_kills_the_task(tmp_path: Path) -> None:
    outcome, lines = run_task(
        python("""
            import os, time
            print("pgid", os.getpgid(0), flush=True)
            block = b"x" * (300 * 1024 * 1024)
            time.sleep(300)
        """),
        tmp_path,
        limits=ResourceLimits(memory_bytes=100 * MiB),
    )
    assert outcome.reason == "out_of_memory"
    assert outcome.exit_code == -signal.SIGKILL
    assert outcome.peak_rss_bytes > 100 * MiB
    assert outcome.duration_seconds < 30
    assert group_processes(value_after(lines, "pgid ")) == []


def test_memory_limit_still_holds_during_the_grace_period(tmp_path: Path) -> None:
    outcome, lines = run_task(
        python("""
            import os, signal, time
            def on_term(signum, frame):
                global block
                block = b"x" * (300 * 1024 * 1024)
                time.sleep(300)
            signal.signal(signal.SIGTERM, on_term)
            print("pgid", os.getpgid(0), flush=True)
            time.sleep(300)
        """),
        tmp_path,
        limits=ResourceLimits(timeout_seconds=start_allowance_seconds(), memory_bytes=100 * MiB),
        grace=60.0,
    )
    assert outcome.reason == "timeout"
    assert outcome.exit_code == -signal.SIGKILL
    # Killed for its memory long before the 60 s grace ran out.
    assert outcome.duration_seconds < start_allowance_seconds() + 30
    assert group_processes(value_after(lines, "pgid ")) == []


def test_memory_limit_counts_the_whole_group(tmp_path: Path) -> None:
    # Two processes of 70 MB each: neither alone is over 120 MB, together they are.
    hog = "import time; block = b'x' * (70 * 1024 * 1024); print('allocated', flush=True); time.sleep(300)"
    outcome, lines = run_task(
        python(f"""
            import os, subprocess, sys
            print("pgid", os.getpgid(0), flush=True)
            children = [subprocess.Popen([sys.executable, "-c", {hog!r}]) for _ in range(2)]
            for child in children:
                child.wait()
        """),
        tmp_path,
        limits=ResourceLimits(memory_bytes=120 * MiB),
    )
    assert outcome.reason == "out_of_memory"
    assert outcome.peak_rss_bytes > 120 * MiB
    assert group_processes(value_after(lines, "pgid ")) == []


def test_peak_rss_is_reported_for_a_short_task(tmp_path: Path) -> None:
    outcome, _ = run_task(python("block = b'x' * (64 * 1024 * 1024)"), tmp_path)
    assert outcome.exit_code == 0
    assert outcome.peak_rss_bytes >= 64 * MiB


# -- cancel and clean-up --------------------------------------------------------------------------------


def test_cancel_kills_the_grandchild_too(tmp_path: Path) -> None:
    outcome, lines = run_task(
        ["sh", "-c", 'sleep 300 & echo "grandchild $!"; echo "pgid $(cut -d" " -f5 /proc/$$/stat)"; wait'],
        tmp_path,
        cancel_on=lambda stream_name, line: line.startswith("pgid "),
    )
    assert outcome.reason == "cancelled"
    assert outcome.exit_code == -signal.SIGTERM
    assert group_processes(value_after(lines, "pgid ")) == []
    assert not pid_alive(value_after(lines, "grandchild "))


def test_cancel_before_start_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    async def main() -> ProcessOutcome:
        cancel = asyncio.Event()
        cancel.set()

        async def on_output(stream_name: str, line: str) -> None:
            raise AssertionError("no output expected")

        return await run_process(
            ["touch", str(marker)],
            cwd=tmp_path,
            env=base_env(),
            limits=ResourceLimits(),
            on_output=on_output,
            cancel=cancel,
        )

    outcome = asyncio.run(main())
    assert outcome == ProcessOutcome(
        exit_code=None, reason="cancelled", peak_rss_bytes=0, duration_seconds=0.0
    )
    assert not marker.exists()


def test_processes_left_behind_by_a_clean_exit_are_killed(tmp_path: Path) -> None:
    # The entrypoint exits at once; a background process that ignores SIGTERM and one that left the group
    # through setsid are still around, and must not outlive the task.
    outcome, lines = run_task(
        python("""
            import os, subprocess
            background = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 300"])
            escaped = subprocess.Popen(["sleep", "300"], start_new_session=True)
            print("pgid", os.getpgid(0), flush=True)
            print("background", background.pid, flush=True)
            print("escaped", escaped.pid, flush=True)
        """),
        tmp_path,
        grace=60.0,
    )
    assert outcome.exit_code == 0
    assert outcome.reason is None
    # Leftovers are killed at once when the entrypoint exits, not after the 60 s grace.
    assert outcome.duration_seconds < 30
    assert group_processes(value_after(lines, "pgid ")) == []
    assert not pid_alive(value_after(lines, "background "))
    assert not pid_alive(value_after(lines, "escaped "))


def test_failing_output_callback_kills_the_group_and_propagates(tmp_path: Path) -> None:
    seen: dict[str, int] = {}

    async def main() -> ProcessOutcome:
        async def on_output(stream_name: str, line: str) -> None:
            name, _, number = line.partition(" ")
            seen[name] = int(number)
            if name == "grandchild":
                raise RuntimeError("log sink is down")

        return await run_process(
            python(GRANDCHILD_TASK),
            cwd=tmp_path,
            env=base_env(),
            limits=ResourceLimits(),
            on_output=on_output,
            cancel=asyncio.Event(),
        )

    with pytest.raises(RuntimeError, match="log sink is down"):
        asyncio.run(main())
    assert group_processes(seen["pgid"]) == []
    assert not pid_alive(seen["grandchild"])


def test_cancelling_run_process_itself_kills_the_group(tmp_path: Path) -> None:
    seen: dict[str, int] = {}

    async def main() -> None:
        started = asyncio.Event()

        async def on_output(stream_name: str, line: str) -> None:
            name, _, number = line.partition(" ")
            seen[name] = int(number)
            if name == "grandchild":
                started.set()

        runner = asyncio.create_task(
            run_process(
                python(GRANDCHILD_TASK),
                cwd=tmp_path,
                env=base_env(),
                limits=ResourceLimits(),
                on_output=on_output,
                cancel=asyncio.Event(),
            )
        )
        await asyncio.wait_for(started.wait(), timeout=30)
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner

    asyncio.run(main())
    assert group_processes(seen["pgid"]) == []
    assert not pid_alive(seen["grandchild"])


# -- the worker dies ------------------------------------------------------------------------------------

WORKER_SCRIPT = """
import asyncio, os, sys
from pathlib import Path

from runplane.worker.process import ResourceLimits, run_process


async def main() -> None:
    async def on_output(stream: str, line: str) -> None:
        print(line, flush=True)

    await run_process(
        ["sh", "-c", 'echo "pgid $(cut -d" " -f5 /proc/$$/stat)"; sleep 300 & sleep 300'],
        cwd=Path(sys.argv[1]),
        env={"PATH": os.environ["PATH"]},
        limits=ResourceLimits(),
        on_output=on_output,
        cancel=asyncio.Event(),
    )


asyncio.run(main())
"""

PR_SET_CHILD_SUBREAPER = 36


def _set_subreaper(enabled: bool) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(int(enabled)), 0, 0, 0) == 0


def _read_line(pipe: int, buffer: bytearray, deadline: float) -> str:
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no complete line from the worker; got {bytes(buffer)!r}"
        readable, _, _ = select.select([pipe], [], [], remaining)
        if readable:
            chunk = os.read(pipe, 4096)
            assert chunk, f"the worker ended early; got {bytes(buffer)!r}"
            buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line.decode()


def test_task_group_dies_with_a_sigkilled_worker(tmp_path: Path) -> None:
    script = tmp_path / "throwaway_worker.py"
    script.write_text(WORKER_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    # The shim outlives the worker by a moment and is re-parented to the nearest subreaper: make that us, so
    # it can be reaped and the group checked to vanish entirely, not merely down to a zombie nobody reaps.
    _set_subreaper(True)
    pgid = 0
    try:
        worker = subprocess.Popen([PY, str(script), str(tmp_path)], stdout=subprocess.PIPE, env=env)
        assert worker.stdout is not None
        with worker, worker.stdout:
            buffer = bytearray()
            line = _read_line(worker.stdout.fileno(), buffer, time.monotonic() + 30)
            assert line.startswith("pgid "), line
            pgid = int(line.removeprefix("pgid "))
            # sh and both sleeps (the shim is not in the task's group: the entrypoint leads a group of its own)
            wait_until(lambda: len(live(group_processes(pgid))) >= 3, 30, "the task's processes to start")
            shim = psutil.Process(pgid).ppid()

            worker.kill()
            worker.wait()

        def group_gone() -> bool:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(shim, os.WNOHANG)  # the orphaned shim, once it has exited
            return not group_processes(pgid)

        wait_until(group_gone, 30, f"task group {pgid} to disappear")
    finally:
        _set_subreaper(False)
        if pgid:
            for proc in live(group_processes(pgid)):
                proc.kill()
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pgid, 0)


# -- the fork server and the watchdog -------------------------------------------------------------------


def test_memory_limit_counts_a_descendant_that_left_the_group(tmp_path: Path) -> None:
    # The hog starts its own session (a new group): only the shim's process tree still ties it to the task.
    hog = "import time; block = b'x' * (300 * 1024 * 1024); print('allocated', flush=True); time.sleep(300)"
    outcome, lines = run_task(
        python(f"""
            import os, subprocess, sys
            print("pgid", os.getpgid(0), flush=True)
            child = subprocess.Popen([sys.executable, "-c", {hog!r}], start_new_session=True)
            print("escaped", child.pid, flush=True)
            child.wait()
        """),
        tmp_path,
        # The deadline only bounds a failure: a watchdog blind to the hog would let it sleep its 300 s.
        limits=ResourceLimits(memory_bytes=100 * MiB, timeout_seconds=start_allowance_seconds() + 60),
    )
    assert outcome.reason == "out_of_memory"
    assert outcome.peak_rss_bytes > 100 * MiB
    assert group_processes(value_after(lines, "pgid ")) == []
    assert not pid_alive(value_after(lines, "escaped "))


def test_tasks_share_one_fork_server_and_outlive_its_loss(tmp_path: Path) -> None:
    """Each task's shim is a fork of one server per event loop; if that server is killed, its running
    task is killed with it (the shim's parent-death signal) and the next task gets a new server."""
    from runplane.worker import process as process_module

    seen: dict[str, int] = {}

    async def main() -> tuple[ProcessOutcome, ProcessOutcome, ProcessOutcome]:
        started = asyncio.Event()

        async def on_output(stream_name: str, line: str) -> None:
            if line.startswith("parent "):
                seen.setdefault(
                    "first_parent" if "first_parent" not in seen else "second_parent", int(line[7:])
                )
            if line.startswith("pgid "):
                seen["pgid"] = int(line[5:])
                started.set()

        def task(code: str) -> Awaitable[ProcessOutcome]:
            return run_process(
                python(code),
                cwd=tmp_path,
                env=base_env(),
                limits=ResourceLimits(),
                on_output=on_output,
                cancel=asyncio.Event(),
            )

        # The shim's parent is the fork server: the same one for two tasks in a row.
        show_server = "import os; print('parent', int(open(f'/proc/{os.getppid()}/stat').read().split()[3]), flush=True)"
        first = await task(show_server)
        await task(show_server)
        server = process_module._runtime().forks.process
        assert seen["first_parent"] == seen["second_parent"] == server.pid
        # A long task; kill the server under it.
        running = asyncio.ensure_future(task(GRANDCHILD_TASK))
        await started.wait()
        os.kill(server.pid, signal.SIGKILL)
        lost = await running
        after = await task("print('fine')")
        assert process_module._runtime().forks.process.pid != server.pid
        return first, lost, after

    first, lost, after = asyncio.run(main())
    assert first.exit_code == 0
    assert lost.exit_code is not None and lost.exit_code != 0
    assert after.exit_code == 0
    wait_until(lambda: not live(group_processes(seen["pgid"])), 30, "the lost task's group to die")


def test_the_entrypoint_is_looked_up_on_the_tasks_own_path(tmp_path: Path) -> None:
    """The forked shim sets only PATH (in its C environment) before posix_spawnp: a program on the task's
    PATH alone is found, the task sees exactly its own environment, and a task without PATH gets the C
    library's default lookup."""
    bin_dir = tmp_path / "task-bin"
    bin_dir.mkdir()
    program = bin_dir / "only-here"
    program.write_text('#!/bin/sh\necho "found $MARK"\nenv | sort\n')
    program.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "MARK": "task-path"}
    outcome, lines = run_task(["only-here"], tmp_path, env=env)
    assert outcome.exit_code == 0, lines
    out = stream(lines, "stdout")
    assert out[0] == "found task-path"
    # The script's own shell may add PWD, SHLVL and "_"; nothing of the worker's environment arrives.
    names = {line.split("=", 1)[0] for line in out[1:]}
    assert names - {"PWD", "SHLVL", "_", "OLDPWD"} == {"PATH", "MARK"}
    # No PATH at all: the default lookup (/bin:/usr/bin) does not find it.
    outcome, lines = run_task(["only-here"], tmp_path, env={"MARK": "x"})
    assert outcome.exit_code == 127
    assert any("only-here" in line for line in stream(lines, "stderr"))


def test_a_malformed_spawn_request_is_answered_not_fatal_to_the_fork_server(tmp_path: Path) -> None:
    """Arguments are read in the server before it forks: a request it cannot read gets an error answer,
    and the server goes on serving."""
    import json
    import socket

    from runplane.worker.shim import SPAWN_FDS, ForkServer, encode_request

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours:
        server = ForkServer(theirs.detach(), os.getpid())
        fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(SPAWN_FDS)]
        server.inbox += encode_request({"op": "spawn", "id": 7, "argv": 5, "env": {}, "cwd": str(tmp_path)})
        server.fds.extend(fds)
        server.handle_requests()
        answer = json.loads(ours.recv(65536).split(b"\n")[0])
        assert answer["id"] == 7 and "pid" not in answer and "bad spawn request" in answer["error"]
        # The descriptors of the refused request are closed, not leaked.
        for fd in fds:
            with pytest.raises(OSError, match="Bad file descriptor"):
                os.fstat(fd)
        server.sock.close()


def test_a_shim_runs_task_after_task_each_in_a_group_of_its_own(tmp_path: Path) -> None:
    """Sequential tasks of one worker run under the same shim, which keeps nothing of one task for the next:
    each task leads a process group of its own (the shim is in none of them), the second is not left on the
    first one's CPUs, and each one's peak RSS is its own (a shim's RUSAGE_CHILDREN would carry the first's)."""
    cpus = sorted(os.sched_getaffinity(0))
    show = """
        import os
        print("ids", os.getpid(), os.getpgid(0), os.getppid(), flush=True)
        print("cpus", ",".join(map(str, sorted(os.sched_getaffinity(0)))), flush=True)
    """
    hog = textwrap.dedent(show) + "block = b'x' * (200 * 1024 * 1024)\n"
    lines: list[list[Line]] = [[], []]

    async def main() -> list[ProcessOutcome]:
        outcomes = []
        for index, (code, limits) in enumerate(
            [(hog, ResourceLimits(cpu_ids=cpus[:1])), (show, ResourceLimits())]
        ):

            async def on_output(stream_name: str, line: str, index: int = index) -> None:
                lines[index].append((stream_name, line))

            outcomes.append(
                await run_process(
                    python(code),
                    cwd=tmp_path,
                    env=base_env(),
                    limits=limits,
                    on_output=on_output,
                    cancel=asyncio.Event(),
                )
            )
        return outcomes

    first, second = asyncio.run(main())
    assert first.exit_code == 0 and second.exit_code == 0, lines
    ids = [stream(task_lines, "stdout")[0].split()[1:] for task_lines in lines]
    (pid1, pgid1, shim1), (pid2, pgid2, shim2) = ([int(value) for value in row] for row in ids)
    assert shim1 == shim2  # the same shim
    assert pgid1 == pid1 and pgid2 == pid2 and pgid1 != pgid2
    assert not group_processes(pgid1) and not group_processes(pgid2)
    assert stream(lines[0], "stdout")[1] == f"cpus {cpus[0]}"
    assert stream(lines[1], "stdout")[1] == "cpus " + ",".join(map(str, cpus))
    assert first.peak_rss_bytes > 200 * MiB
    assert second.peak_rss_bytes < 100 * MiB


def test_a_signal_for_a_task_reaches_its_group_through_the_shim(tmp_path: Path) -> None:
    """Timeout: the worker's SIGTERM goes to the task's group by way of its shim (the worker never names a
    group id itself), and reaches a child that stayed in the group."""
    outcome, lines = run_task(
        [
            "sh",
            "-c",
            'trap "echo term; exit 3" TERM; echo "pgid $(cut -d" " -f5 /proc/$$/stat)"; sleep 300 & wait',
        ],
        tmp_path,
        limits=ResourceLimits(timeout_seconds=start_allowance_seconds() + 1),
    )
    assert outcome.reason == "timeout"
    assert "term" in stream(lines, "stdout"), lines
    assert not group_processes(value_after(lines, "pgid "))
