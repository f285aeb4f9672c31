"""Every line a task prints is stored, in order, before its end is reported (issue 7, item 1).

Real processes only: `runplane serve` and a default `runplane worker` (its log batches fall due after 1 s).
Each task prints a line, sleeps around that second (so the worker's timer sends a batch just as the task
prints its last lines and exits), then prints a burst of lines, the last one immediately before exit, on
stdout and stderr. Before the fix, the timer's batch in flight was cancelled at exit: its lines were lost
or reached the server cut short (400), and once the order came out reversed.

Sequential and concurrent runs on SQLite; the concurrent run on PostgreSQL too (the log path is the same
there; the attempt and assignment checks read the database).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.agents import System, running_system
from tests.support.live import module_database

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TASKS = 20
BURST = 40
PRINTER = (
    "import sys, time; n = sys.argv[1]; print(n, 'first', flush=True); time.sleep(float(sys.argv[2])); "
    f"[print(n, 'burst', i) for i in range({BURST})]; print(n, 'to stderr', file=sys.stderr); print(n, 'last')"
)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    root = tmp_path_factory.mktemp(f"task-logs-{request.param}")
    with module_database(request, root) as database_url, running_system(request, root, database_url) as found:
        yield found


def expected_stdout(n: int) -> list[str]:
    return [f"{n} first", *(f"{n} burst {i}" for i in range(BURST)), f"{n} last"]


def submit_printers(system: System, first: int, count: int) -> list[tuple[int, str]]:
    # Pauses from 0.8 s to 1.2 s sweep the moment the worker's 1 s batch timer fires across the task's end.
    return [
        (
            n,
            system.submit(
                entrypoint=f'python -c "{PRINTER}"',
                args=[str(n), f"{0.8 + 0.02 * (n % 21):.2f}"],
                cpu=1,
                memory_gb=0.25,
            ),
        )
        for n in range(first, first + count)
    ]


def assert_complete_logs(system: System, tasks: list[tuple[int, str]]) -> None:
    problems = []
    for n, task_id in tasks:
        task = system.task(task_id)
        lines = system.logs(task_id).splitlines()
        stderr_line = f"{n} to stderr"
        stdout = [line for line in lines if line != stderr_line]
        if task["status"] != "completed" or stdout != expected_stdout(n) or lines.count(stderr_line) != 1:
            problems.append((n, task["status"], lines[:3], len(lines)))
    assert problems == [], problems


def assert_nothing_dropped(system: System) -> None:
    for agent in system.agents:
        assert "dropped" not in agent.log(), agent.log()[-4000:]


def test_twenty_tasks_one_after_another_keep_every_line_in_order(system: System) -> None:
    if system.backend != "sqlite":
        pytest.skip("the sequential run takes ~40 s; PostgreSQL gets the concurrent run")
    system.start_agent("w-seq", "--slots", "1", "--poll-seconds", "0.1")
    tasks = []
    for n in range(TASKS):
        tasks += submit_printers(system, n, 1)
        system.wait_ended([tasks[-1][1]], timeout=120)
    system.stop_agents()
    assert_complete_logs(system, tasks)
    assert_nothing_dropped(system)


def test_twenty_tasks_at_once_keep_every_line_in_order(system: System) -> None:
    system.start_agent("w-conc", "--slots", str(TASKS), "--cores", str(TASKS), "--memory-gb", "16")
    tasks = submit_printers(system, 100, TASKS)
    system.wait_ended([task_id for _, task_id in tasks], timeout=240)
    system.stop_agents()
    assert_complete_logs(system, tasks)
    assert_nothing_dropped(system)
