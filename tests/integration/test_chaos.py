"""Chaos, bounded: workers SIGKILLed and restarted while they run tasks lose nothing (issue 7, item 6).

A real server (2 API processes) and two real worker agents run thirty short tasks; while they run,
the agents are SIGKILLed in turn (each time while it holds a task) and started again. Then:

* 0 lost: every task ends `completed` (re-runs are allowed, failures are not: `max_retries` is ample);
* 0 stuck: every task ends within a generous deadline;
* 0 orphaned task processes: no process of any task survives (psutil finds none by the run's token);
* every task's artifact is there, with what the task wrote.

On SQLite and PostgreSQL. Every wait is a poll on a condition with a deadline far above what a busy
2-core machine needs; a run takes some 30-60 s per database on a busy machine. `bench/chaos.py` is the larger version with
figures.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from functools import partial

import psutil
import pytest

from tests.support.agents import System, running_system
from tests.support.live import module_database
from tests.support.waiting import poll

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TASKS = 30
KILLS = 4
SLOTS = "3"
TASK = (
    "import os, pathlib, sys, time; out = pathlib.Path(os.environ['RUNPLANE_OUTPUT_DIR']); "
    "time.sleep(float(sys.argv[2])); (out / 'out.txt').write_text(sys.argv[1]); print('done', sys.argv[1])"
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    root = tmp_path_factory.mktemp(f"chaos-{request.param}")
    with module_database(request, root) as database_url, running_system(request, root, database_url) as found:
        yield found


def task_processes(token: str) -> list[int]:
    """Pids of live processes whose command line carries `token` (only this run's tasks do)."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        info = process.info
        if info["status"] != psutil.STATUS_ZOMBIE and token in (info["cmdline"] or []):
            found.append(process.pid)
    return found


def holds_a_task(system: System, name: str) -> bool:
    listed = system.http.get("/v1/scheduler/workers", headers=system.admin, params={"limit": 1000})
    return any(
        w["name"] == name and w["status"] == "active" and w["active_tasks"] for w in listed.json()["workers"]
    )


def test_workers_killed_and_restarted_lose_no_task_leave_no_process_and_keep_every_artifact(
    system: System,
) -> None:
    token = f"chaos-{secrets.token_hex(6)}"
    options = ("--slots", SLOTS, "--cores", SLOTS, "--memory-gb", "4", "--poll-seconds", "0.2")
    agents = {name: system.start_agent(name, *options) for name in ("w-chaos-a", "w-chaos-b")}
    tasks: dict[str, int] = {}

    def submit(count: int) -> None:
        for n in range(len(tasks), len(tasks) + count):
            task_id = system.submit(
                entrypoint=f'python -c "{TASK}"',
                args=[str(n), f"{0.3 + 0.1 * (n % 5):.1f}", token],
                cpu=1,
                memory_gb=0.25,
                max_retries=10,
            )
            tasks[task_id] = n

    # Tasks go in with each kill, so every kill finds work to interrupt, however fast the machine is.
    per_phase = TASKS // (KILLS + 1)
    for kill in range(KILLS):
        submit(per_phase)
        name = sorted(agents)[kill % 2]
        poll(partial(holds_a_task, system, name), timeout=120, what=f"{name} to hold a task")
        agents[name].kill()
        # Not waited for: the next kill is the other agent's, and this one is back well before its turn.
        agents[name] = system.start_agent(name, *options, wait=False)
    submit(TASKS - len(tasks))

    ended = system.wait_ended(list(tasks), timeout=240)
    lost = {task_id: t["status"] for task_id, t in ended.items() if t["status"] != "completed"}
    assert lost == {}, [ended[task_id] for task_id in lost]
    reruns = sum(t["retry_count"] for t in ended.values())
    # Each kill took a task down with it, so some tasks ran again (at-least-once, as designed).
    assert reruns >= 1
    system.stop_agents()
    poll(lambda: not task_processes(token), timeout=60, what="every task process to be gone")

    for task_id, n in tasks.items():
        artifact = system.http.get(f"/v1/tasks/{task_id}/artifacts/out.txt", headers=system.user)
        assert artifact.status_code == 200, (n, artifact.text)
        assert artifact.text == str(n)
        assert f"done {n}" in system.logs(task_id)
    print(f"{system.backend}: {TASKS} tasks, {KILLS} kills, 0 lost, 0 stuck, {reruns} re-run(s)")
