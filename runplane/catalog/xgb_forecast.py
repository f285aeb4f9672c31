"""A gradient-boosted (xgboost) forecast of a synthetic daily series from lag and calendar features."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

import numpy as np
import xgboost
from numpy.typing import NDArray

from runplane.catalog.registry import ModelResult, Progress, Row, clean

PERIODS: Final = 730
HORIZON: Final = 28
START: Final = date(2024, 1, 1)
LAGS: Final = (1, 2, 3, 7, 14, 21, 28)
ROUNDS: Final = 150
LEARNING_RATE: Final = 0.08
DEFAULT_MAX_DEPTH: Final = 5
# How often (in boosting rounds) training reports progress.
REPORT_EVERY: Final = 15

Vector = NDArray[np.float64]


def make_series(data_seed: int) -> Vector:
    """Trend + weekly and yearly seasonality + AR(1) noise; shapes and noise are fixed by ``data_seed``."""
    rng = np.random.default_rng(data_seed)
    t = np.arange(PERIODS, dtype=np.float64)
    level = rng.uniform(80.0, 120.0)
    trend = rng.uniform(-0.02, 0.08)
    weekly = rng.uniform(5.0, 15.0) * np.sin(2 * np.pi * t / 7 + rng.uniform(0.0, 2 * np.pi))
    yearly = rng.uniform(10.0, 25.0) * np.sin(2 * np.pi * t / 365.25 + rng.uniform(0.0, 2 * np.pi))
    shocks = rng.normal(0.0, 3.0, PERIODS)
    noise = np.empty(PERIODS)
    noise[0] = shocks[0]
    for i in range(1, PERIODS):
        noise[i] = 0.6 * noise[i - 1] + shocks[i]
    series: Vector = level + trend * t + weekly + yearly + noise
    return series


def _features(history: Vector, t: int) -> list[float]:
    """Features for predicting period ``t`` from ``history[:t]`` only, so training and forecasting agree."""
    lags = [float(history[t - lag]) for lag in LAGS]
    week_mean = float(np.mean(history[t - 7 : t]))
    day_of_year = 2 * np.pi * (t % 365.25) / 365.25
    return [
        *lags,
        week_mean,
        float(t % 7),
        float(np.sin(day_of_year)),
        float(np.cos(day_of_year)),
    ]


class _ReportRounds(xgboost.callback.TrainingCallback):
    def __init__(self, report: Progress, start: float, span: float) -> None:
        super().__init__()
        self._report = report
        self._start = start
        self._span = span

    def after_iteration(
        self, model: xgboost.Booster, epoch: int, evals_log: xgboost.callback.TrainingCallback.EvalsLog
    ) -> bool:
        done = epoch + 1
        if done % REPORT_EVERY == 0:
            self._report(
                self._start + self._span * done / ROUNDS,
                f"boosting round {done}/{ROUNDS}",
            )
        return False  # never stop early: a fixed number of rounds keeps runs comparable


def run(max_depth: int, data_seed: int, report: Progress) -> ModelResult:
    """Train on all but the last ``HORIZON`` days, then forecast those days one step at a time."""
    series = make_series(data_seed)
    cutoff = PERIODS - HORIZON
    first = max(LAGS)
    train_x = np.array([_features(series, t) for t in range(first, cutoff)])
    train_y = series[first:cutoff]
    report(5, f"built {train_y.size} training rows from {PERIODS} days")

    params = {
        "objective": "reg:squarederror",
        "tree_method": "hist",
        "max_depth": max_depth,
        "eta": LEARNING_RATE,
        "subsample": 0.8,
        "nthread": 1,  # one thread: histogram sums in a fixed order give the same trees every run
        "seed": data_seed % 2**31,
    }
    booster = xgboost.train(
        params,
        xgboost.DMatrix(train_x, label=train_y),
        num_boost_round=ROUNDS,
        callbacks=[_ReportRounds(report, 5, 80)],
    )

    # Recursive: each forecast feeds the lags of the next step, as it would with a real future.
    history = series.copy()
    history[cutoff:] = np.nan
    for t in range(cutoff, PERIODS):
        step_x = np.array([_features(history, t)])
        history[t] = float(booster.predict(xgboost.DMatrix(step_x))[0])
    report(95, f"forecast {HORIZON} days")

    forecast = history[cutoff:]
    actual = series[cutoff:]
    # A seasonal-naive forecast (same weekday last week) is the bar a real model must clear.
    naive = np.array([series[cutoff - 7 + (i % 7)] for i in range(HORIZON)])
    rows: list[Row] = [
        {
            "step": i + 1,
            "period": cutoff + i,
            "date": (START + timedelta(days=cutoff + i)).isoformat(),
            "actual": clean(actual[i], 4),
            "forecast": clean(forecast[i], 4),
            "error": clean(forecast[i] - actual[i], 4),
        }
        for i in range(HORIZON)
    ]
    error = forecast - actual
    summary: dict[str, int | float | str] = {
        "max_depth": max_depth,
        "mae": clean(np.mean(np.abs(error)), 4),
        "rmse": clean(np.sqrt(np.mean(error**2)), 4),
        "naive_mae": clean(np.mean(np.abs(naive - actual)), 4),
        "horizon": HORIZON,
        "train_rows": int(train_y.size),
        "rounds": ROUNDS,
        "rows": len(rows),
    }
    lines = ["period,date,actual,forecast"]
    for t in range(PERIODS):
        predicted = f"{clean(history[t], 4)!r}" if t >= cutoff else ""
        lines.append(f"{t},{(START + timedelta(days=t)).isoformat()},{clean(series[t], 4)!r},{predicted}")
    return ModelResult(summary=summary, rows=rows, artifacts={"series.csv": "\n".join(lines) + "\n"})
