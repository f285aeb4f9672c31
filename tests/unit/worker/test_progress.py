"""Progress lines as runplane.task prints them, and the monotonic, throttled tracker."""

from __future__ import annotations

import contextlib
import io

import pytest

from runplane import task
from runplane.worker.progress import ProgressTracker, parse_progress_line


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def printed_by_task(percent: float, message: str | None = None) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        task.progress(percent, message)
    return buffer.getvalue().removesuffix("\n")


@pytest.mark.parametrize(
    ("percent", "message", "expected"),
    [
        (0, None, (0.0, None)),
        (42.5, "epoch 3 of 8", (42.5, "epoch 3 of 8")),
        (100, "done", (100.0, "done")),
        (0.00001, None, (0.00001, None)),  # printed as 1e-05
        (150, "clamped by the task", (100.0, "clamped by the task")),
        (12, "multi\nline   message", (12.0, "multi line message")),
    ],
)
def test_parses_what_the_task_helper_prints(percent: float, message: str | None, expected: object) -> None:
    assert parse_progress_line(printed_by_task(percent, message)) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("::progress 50", (50.0, None)),
        ("::progress\t7.25\tloading data  ", (7.25, "loading data")),
        ("  ::progress 3 leading space", (3.0, "leading space")),
        ("::progress 250", (100.0, None)),
        ("::progress -5 negative", (0.0, "negative")),
        ("::progress .5", (0.5, None)),
        ("::progress 1e2", (100.0, None)),
    ],
)
def test_parse_accepts_and_clamps(line: str, expected: tuple[float, str | None]) -> None:
    assert parse_progress_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "",
        "progress 50",
        "::progress",
        "::progress ",
        "::progress fifty",
        "::progress 50abc",
        "::progressive 50",
        "::progress nan",
        "::progress inf",
        "log line mentioning ::progress 50",
    ],
)
def test_parse_rejects_other_lines(line: str) -> None:
    assert parse_progress_line(line) is None


def test_first_update_is_sent_and_later_ones_are_throttled() -> None:
    clock = FakeClock()
    tracker = ProgressTracker(min_interval_seconds=2.0, clock=clock)
    assert tracker.update(10, "a") is True
    assert tracker.pending() is None
    clock.now += 0.5
    assert tracker.update(20, "b") is False
    assert tracker.pending() == (20.0, "b")
    assert tracker.seconds_until_due() == pytest.approx(1.5)
    clock.now += 1.0
    assert tracker.update(30, "c") is False
    clock.now += 0.5
    # The interval has passed: the latest value goes out, nothing in between is lost that matters.
    assert tracker.update(35, "d") is True
    assert tracker.pending() is None
    assert tracker.seconds_until_due() is None


def test_progress_never_decreases_and_is_clamped() -> None:
    tracker = ProgressTracker(min_interval_seconds=0, clock=FakeClock())
    tracker.update(60, "training")
    tracker.update(40, "evaluating")
    assert tracker.current == (60.0, "evaluating")
    tracker.update(-10)
    assert tracker.percent == 60.0
    tracker.update(500)
    assert tracker.percent == 100.0
    tracker.update(float("nan"), "still here")
    assert tracker.current == (100.0, "still here")


def test_unchanged_value_is_not_sent_again() -> None:
    clock = FakeClock()
    tracker = ProgressTracker(min_interval_seconds=1.0, clock=clock)
    assert tracker.update(50, "x") is True
    clock.now += 10
    assert tracker.update(50, "x") is False
    assert tracker.update(40, "x") is False  # lower percentage, same message: nothing new
    assert tracker.pending() is None


def test_flush_returns_the_last_throttled_value_once() -> None:
    clock = FakeClock()
    tracker = ProgressTracker(min_interval_seconds=5.0, clock=clock)
    tracker.update(10)
    tracker.update(20, "held back")
    tracker.update(30, "latest")
    assert tracker.flush() == (30.0, "latest")
    assert tracker.flush() is None
    assert tracker.pending() is None


def test_complete_is_always_sent_as_100() -> None:
    clock = FakeClock()
    tracker = ProgressTracker(min_interval_seconds=60.0, clock=clock)
    tracker.update(10, "start")
    tracker.update(70, "almost")
    assert tracker.complete() == (100.0, "almost")
    assert tracker.pending() is None
    assert tracker.complete("finished") == (100.0, "finished")


def test_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="min_interval_seconds"):
        ProgressTracker(min_interval_seconds=-1)
