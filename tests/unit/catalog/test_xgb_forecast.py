from __future__ import annotations

import math
from datetime import date

from runplane.catalog import CATALOG
from runplane.catalog.registry import ModelResult
from runplane.catalog.xgb_forecast import (
    DEFAULT_MAX_DEPTH,
    HORIZON,
    PERIODS,
    ROUNDS,
    make_series,
    run,
)

ROW_KEYS = {"step", "period", "date", "actual", "forecast", "error"}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def __call__(self, percent: float, message: str) -> None:
        self.calls.append((percent, message))


def _run(seed: int, max_depth: int = 3) -> ModelResult:
    return run(max_depth, seed, Recorder())


def test_same_seed_same_results_and_different_seed_different_rows() -> None:
    first = _run(11)
    assert first == _run(11)
    assert first.rows != _run(12).rows


def test_one_row_per_forecast_step() -> None:
    result = _run(1)
    assert len(result.rows) == HORIZON
    assert all(set(row) == ROW_KEYS for row in result.rows)
    assert [row["step"] for row in result.rows] == list(range(1, HORIZON + 1))
    assert result.rows[-1]["period"] == PERIODS - 1
    assert date.fromisoformat(str(result.rows[0]["date"])) < date.fromisoformat(str(result.rows[-1]["date"]))
    for row in result.rows:
        assert abs(float(row["forecast"]) - float(row["actual"]) - float(row["error"])) < 1e-3


def test_summary_and_forecast_quality() -> None:
    result = _run(0, max_depth=7)
    summary = result.summary
    assert summary["max_depth"] == 7
    assert summary["horizon"] == HORIZON
    assert summary["rounds"] == ROUNDS
    assert summary["rows"] == HORIZON
    mae, rmse = float(summary["mae"]), float(summary["rmse"])
    assert 0 < mae <= rmse
    # The series moves by tens around ~100; a trained model stays within a few units of it.
    assert mae < 10
    assert math.isfinite(float(summary["naive_mae"]))


def test_depth_changes_the_model() -> None:
    assert _run(2, max_depth=3).rows != _run(2, max_depth=7).rows


def test_progress_follows_the_boosting_rounds() -> None:
    recorder = Recorder()
    run(3, 5, recorder)
    percents = [percent for percent, _ in recorder.calls]
    assert percents == sorted(percents)
    assert percents[-1] <= 100
    assert sum("boosting round" in message for _, message in recorder.calls) >= 5


def test_series_artifact_covers_history_and_forecast() -> None:
    lines = _run(4).artifacts["series.csv"].splitlines()
    assert lines[0] == "period,date,actual,forecast"
    assert len(lines) == PERIODS + 1
    assert lines[1].endswith(",")  # no forecast for the training head
    assert not lines[-1].endswith(",")


def test_default_depth_and_scenario_through_the_catalog() -> None:
    spec = CATALOG["xgb_forecast"]
    result = spec.run({"region": "APAC"}, 0, Recorder())
    assert result.summary["max_depth"] == DEFAULT_MAX_DEPTH
    assert result.rows != spec.run({"region": "EU"}, 0, Recorder()).rows
    assert make_series(1).shape == (PERIODS,)
