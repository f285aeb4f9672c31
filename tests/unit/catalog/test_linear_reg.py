from __future__ import annotations

from runplane.catalog import CATALOG
from runplane.catalog.linear_reg import FEATURES, FOLDS, SAMPLES, make_data, run
from runplane.catalog.registry import ModelResult

ROW_KEYS = {"alpha", "fold", "train_rows", "test_rows", "r2", "rmse", "mae"}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def __call__(self, percent: float, message: str) -> None:
        self.calls.append((percent, message))


def _run(seed: int, alphas: list[float] | None = None) -> ModelResult:
    return run(alphas or [0.1, 1.0, 10.0], seed, Recorder())


def test_same_seed_same_results_and_different_seed_different_rows() -> None:
    first = _run(3)
    assert first == _run(3)
    assert first.rows != _run(4).rows


def test_every_alpha_of_the_grid_is_cross_validated() -> None:
    result = _run(1)
    assert len(result.rows) == 3 * FOLDS
    assert all(set(row) == ROW_KEYS for row in result.rows)
    assert [row["alpha"] for row in result.rows[::FOLDS]] == [0.1, 1.0, 10.0]
    assert {row["test_rows"] for row in result.rows} == {SAMPLES // FOLDS}
    summary = result.summary
    assert summary["best_alpha"] in (0.1, 1.0, 10.0)
    assert summary["rows"] == 3 * FOLDS
    # A real fit on data with a linear signal explains most of the variance.
    assert isinstance(summary["r2"], float)
    assert summary["r2"] > 0.5
    best = [row for row in result.rows if row["alpha"] == summary["best_alpha"]]
    assert abs(sum(float(row["rmse"]) for row in best) / FOLDS - float(summary["rmse"])) < 1e-5


def test_one_alpha_and_the_coefficients_artifact() -> None:
    result = _run(1, [10.0])
    assert len(result.rows) == FOLDS
    assert result.summary["best_alpha"] == 10.0
    lines = result.artifacts["coefficients.csv"].splitlines()
    assert lines[0] == "feature,fitted,true"
    assert len(lines) == FEATURES + 1


def test_progress_rises_within_0_100() -> None:
    recorder = Recorder()
    run([0.1, 1.0], 2, recorder)
    percents = [percent for percent, _ in recorder.calls]
    assert percents == sorted(percents)
    assert percents[0] >= 0
    assert percents[-1] <= 100
    assert len(percents) >= 2 * FOLDS


def test_data_is_fixed_by_the_seed() -> None:
    features, target, coefficients = make_data(5)
    assert features.shape == (SAMPLES, FEATURES)
    assert target.shape == (SAMPLES,)
    assert (coefficients != 0).sum() == 8
    again = make_data(5)
    assert (features == again[0]).all()
    assert (target == again[1]).all()


def test_scenario_inputs_change_the_data() -> None:
    spec = CATALOG["linear_reg"]
    na = spec.run({"region": "NA", "year": 2024, "alpha": 1.0}, 0, Recorder())
    eu = spec.run({"region": "EU", "year": 2024, "alpha": 1.0}, 0, Recorder())
    assert len(na.rows) == FOLDS
    assert na.rows != eu.rows
    assert na == spec.run({"region": "NA", "year": "2024", "alpha": 1}, 0, Recorder())
