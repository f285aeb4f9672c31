from __future__ import annotations

from runplane.catalog import CATALOG
from runplane.catalog.registry import ModelResult
from runplane.catalog.simulator import DEFAULT_TRIALS, HISTOGRAM_BINS, PERIODS, run

ROW_KEYS = {"period", "invested", "mean", "std", "p5", "p50", "p95", "prob_loss", "max_drawdown_p50"}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def __call__(self, percent: float, message: str) -> None:
        self.calls.append((percent, message))


def _run(seed: int, trials: int = 100) -> ModelResult:
    return run(trials, seed, Recorder())


def test_same_seed_same_results_and_different_seed_different_rows() -> None:
    first = _run(21)
    assert first == _run(21)
    assert first.rows != _run(22).rows


def test_rows_are_per_period_statistics() -> None:
    result = _run(1, 1000)
    assert [row["period"] for row in result.rows] == list(range(1, PERIODS + 1))
    for row in result.rows:
        assert set(row) == ROW_KEYS
        assert float(row["p5"]) <= float(row["p50"]) <= float(row["p95"])
        assert float(row["std"]) > 0
        assert 0 <= float(row["prob_loss"]) <= 1
        assert 0 <= float(row["max_drawdown_p50"]) < 1


def test_summary() -> None:
    summary = _run(2, 1000).summary
    assert summary["trials"] == 1000
    assert summary["periods"] == PERIODS
    assert summary["rows"] == PERIODS
    assert float(summary["p5"]) <= float(summary["p50"]) <= float(summary["p95"])
    # Expected shortfall averages losses beyond the 5th percentile, so it is at least the VaR.
    assert float(summary["expected_shortfall_95"]) >= float(summary["value_at_risk_95"])
    assert float(summary["max_drawdown_p50"]) <= float(summary["max_drawdown_p95"]) < 1


def test_histogram_counts_every_trial() -> None:
    lines = _run(3, 10000).artifacts["histogram.csv"].splitlines()
    assert lines[0] == "bin_low,bin_high,count"
    assert len(lines) == HISTOGRAM_BINS + 1
    assert sum(int(line.rsplit(",", 1)[1]) for line in lines[1:]) == 10000


def test_progress_rises_and_trials_default_through_the_catalog() -> None:
    recorder = Recorder()
    result = CATALOG["simulator"].run({}, 0, recorder)
    assert result.summary["trials"] == DEFAULT_TRIALS
    percents = [percent for percent, _ in recorder.calls]
    assert percents == sorted(percents)
    assert len(percents) >= 5
    assert percents[-1] <= 100
