"""The worker's own cost per task, without the API: the shim around `true`, and the memory watchdog.

    .venv/bin/python bench/worker_overhead.py                      # this tree: ~15 s
    .venv/bin/python bench/worker_overhead.py --process-py OTHER/runplane/worker/process.py

* `per task`: `run_process(["true"])` (runplane.worker.process, with a memory limit) `--tasks` times in a
  row in this process, after one unmeasured task (a fork server's start is paid once per worker): CPU
  (user + system of this process and of all its descendants, with what each has reaped) and wall time per
  task, then split: this process (the agent's side: pipes, pumps, supervision), the fork server itself,
  and the rest: the shims (live ones, reused from task to task, and any the server has reaped) with their
  tasks. Page faults of the first two are shown too (a freshly forked shim's cost is mostly copy-on-write
  faults; a reused one takes few).
* `fork-exec`: in the same run, the machine's own floor: this process `posix_spawn`s `true` and waits,
  `--tasks` times; CPU per process (this process and its reaped children) and the ratio to `per task`.
* `watchdog`: `--concurrent` tasks `sleep --sleep-seconds` at once with a memory limit; CPU of this
  process alone while they run (the supervision, the watchdog's sampling), as a share of one core, and how
  many processes the host had (the old watchdog's cost grew with it).

`--process-py` loads another copy of `process.py` (e.g. `git show main:runplane/worker/process.py` with
that commit's `shim.py` beside it) instead of this tree's, to compare in the same run. Prints one line per
measurement; exit status 1 if a task failed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import psutil


def load(process_py: Path | None) -> ModuleType:
    if process_py is None:
        from runplane.worker import process

        return process
    spec = importlib.util.spec_from_file_location("process_under_test", process_py)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["process_under_test"] = module
    spec.loader.exec_module(module)
    return module


def own_and_reaped(pid: int) -> tuple[float, float, int, int]:
    """(own CPU s, reaped children's CPU s, own minor faults, reaped children's minor faults) of ``pid``."""
    times = psutil.Process(pid).cpu_times()
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    # proc(5): minflt is field 10, cminflt 11; fields[0] here is field 3.
    return (
        times.user + times.system,
        times.children_user + times.children_system,
        int(fields[7]),
        int(fields[8]),
    )


def fork_exec_floor(tasks: int) -> float:
    """CPU seconds per `true` that this process posix_spawns and waits for (itself and the child)."""
    before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {"PATH": "/usr/bin:/bin"}
    for _ in range(tasks):
        pid = os.posix_spawnp("true", ["true"], env)
        os.waitpid(pid, 0)
    after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    used = sum(
        a.ru_utime + a.ru_stime - (b.ru_utime + b.ru_stime) for a, b in zip(after, before, strict=True)
    )
    return used / tasks


def tree_cpu_seconds() -> float:
    me = psutil.Process()
    total = 0.0
    for process in [me, *me.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


async def measure(module: ModuleType, args: argparse.Namespace) -> bool:
    cwd = Path(tempfile.mkdtemp(prefix="worker-overhead-"))
    env = {"PATH": "/usr/bin:/bin"}
    limits = module.ResourceLimits(memory_bytes=1 << 30)

    async def ignore(stream: str, line: str) -> None:
        return None

    async def run(argv: list[str]) -> bool:
        outcome = await module.run_process(
            argv, cwd=cwd, env=env, limits=limits, on_output=ignore, cancel=asyncio.Event()
        )
        return bool(outcome.exit_code == 0)

    ok = await run(["true"])
    server_pid = module._runtime().forks.process.pid
    me = os.getpid()
    agent0, server0 = own_and_reaped(me), own_and_reaped(server_pid)
    cpu0, wall0 = tree_cpu_seconds(), time.perf_counter()
    for _ in range(args.tasks):
        ok = await run(["true"]) and ok
    cpu1, wall1 = tree_cpu_seconds(), time.perf_counter()
    agent1, server1 = own_and_reaped(me), own_and_reaped(server_pid)
    n = args.tasks
    per_task = (cpu1 - cpu0) / n
    agent, server = (agent1[0] - agent0[0]) / n, (server1[0] - server0[0]) / n
    print(f"per task: {n} x true: {per_task * 1000:.2f} ms CPU, {(wall1 - wall0) / n * 1000:.1f} ms wall")
    print(
        f"  split: agent side {agent * 1000:.2f} ms ({(agent1[2] - agent0[2]) / n:.0f} faults), "
        f"fork server {server * 1000:.2f} ms ({(server1[2] - server0[2]) / n:.0f} faults), "
        f"shims + tasks {(per_task - agent - server) * 1000:.2f} ms"
    )
    floor = fork_exec_floor(n)
    print(
        f"fork-exec: {n} x posix_spawn(true): {floor * 1000:.2f} ms CPU per process; "
        f"per task / fork-exec = {per_task / floor:.1f}x"
    )
    me = psutil.Process()
    before, wall0 = me.cpu_times(), time.perf_counter()
    results = await asyncio.gather(*(run(["sleep", str(args.sleep_seconds)]) for _ in range(args.concurrent)))
    after, wall1 = me.cpu_times(), time.perf_counter()
    cpu = (after.user + after.system) - (before.user + before.system)
    print(
        f"watchdog: {args.concurrent} x sleep {args.sleep_seconds:g}: this process {cpu * 1000:.0f} ms CPU "
        f"over {wall1 - wall0:.1f} s ({cpu / (wall1 - wall0) * 100:.1f} % of a core); "
        f"{len(psutil.pids())} processes on the host"
    )
    return ok and all(results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=40, help="sequential `true` tasks measured")
    parser.add_argument("--concurrent", type=int, default=4, help="tasks sleeping at once")
    parser.add_argument("--sleep-seconds", type=float, default=3.0, help="how long they sleep")
    parser.add_argument("--process-py", type=Path, default=None, help="another copy of process.py to load")
    args = parser.parse_args()
    ok = asyncio.run(measure(load(args.process_py), args))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
