"""`runplane up`'s supervision of its local worker (runplane/cli.py `_WorkerSupervisor`), with real processes.

The end-to-end case (kill -9 of the worker of a running `up`, then a task completes) is in
tests/integration/test_execution.py; here the backoff and the give-up, which take too long there.
"""

from __future__ import annotations

import sys
import time

import pytest

from runplane import cli

pytestmark = pytest.mark.unit


def _supervise(supervisor: cli._WorkerSupervisor, within: float) -> None:
    deadline = time.monotonic() + within
    while not supervisor.given_up and time.monotonic() < deadline:
        supervisor.check()
        time.sleep(0.005)


def test_a_worker_that_keeps_dying_is_restarted_with_backoff_then_given_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_RESTART_FIRST_DELAY_SECONDS", 0.05)
    monkeypatch.setattr(cli, "_RESTART_MAX_DELAY_SECONDS", 0.1)
    supervisor = cli._WorkerSupervisor(
        [sys.executable, "-c", "raise SystemExit(3)"], {}, "http://h:1", "rp_k"
    )
    supervisor.start()
    _supervise(supervisor, within=120)
    lines = capsys.readouterr().err.splitlines()
    # One line per restart, the wait doubling up to its cap; the fifth fast death gives up, saying how to
    # start a worker by hand.
    assert lines[:4] == [
        f"the local worker exited with 3; restarting it in {delay}s (restart {n})"
        for n, delay in ((1, 0.05), (2, 0.1), (3, 0.1), (4, 0.1))
    ]
    assert len(lines) == 5 and lines[4].startswith("the local worker exited with 3, 5 times in a row"), lines
    assert "keys create --role worker" in lines[4] and "worker --api http://h:1" in lines[4]
    assert supervisor.given_up and supervisor.check() is None


def test_a_worker_that_exits_0_was_drained_and_is_not_restarted(capsys: pytest.CaptureFixture[str]) -> None:
    supervisor = cli._WorkerSupervisor([sys.executable, "-c", "pass"], {}, "http://h:1", "rp_k")
    supervisor.start()
    _supervise(supervisor, within=60)
    assert supervisor.given_up
    assert "stopped (drained)" in capsys.readouterr().err
