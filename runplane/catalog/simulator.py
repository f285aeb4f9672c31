"""Monte Carlo simulation of a portfolio with monthly contributions, fat-tailed returns and rare crashes.

Paths move in trading days, so path-dependent risk (each path's maximum drawdown) is measured, not
approximated from month-end values; the work grows with the number of trials, as a user expects of
the `trials` grid.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from runplane.catalog.registry import ModelResult, Progress, Row, clean

PERIODS: Final = 60
DAYS_PER_PERIOD: Final = 21
INITIAL: Final = 10_000.0
CONTRIBUTION: Final = 250.0
MONTHLY_DRIFT: Final = 0.006
MONTHLY_VOL: Final = 0.04
# Student-t with few degrees of freedom: monthly returns have fatter tails than a normal.
TAIL_DF: Final = 4.0
CRASH_PROBABILITY: Final = 0.01
CRASH_SIZE: Final = -0.20
HISTOGRAM_BINS: Final = 40
DEFAULT_TRIALS: Final = 1000
# How often (in periods) the simulation reports progress.
REPORT_EVERY: Final = 3


def run(trials: int, data_seed: int, report: Progress) -> ModelResult:
    """Simulate ``trials`` paths of ``PERIODS`` months; one row of cross-trial statistics per month."""
    rng = np.random.default_rng(data_seed)
    # Rescale the t draws to unit variance so the daily volatility compounds to MONTHLY_VOL a month.
    t_scale = np.sqrt((TAIL_DF - 2.0) / TAIL_DF)
    daily_drift = MONTHLY_DRIFT / DAYS_PER_PERIOD
    daily_vol = MONTHLY_VOL / np.sqrt(DAYS_PER_PERIOD)
    values = np.full(trials, INITIAL)
    peaks = values.copy()
    max_drawdown = np.zeros(trials)
    invested = INITIAL
    rows: list[Row] = []
    report(2, f"simulating {trials} trials over {PERIODS} months")
    for period in range(1, PERIODS + 1):
        daily = daily_drift + daily_vol * t_scale * rng.standard_t(TAIL_DF, (DAYS_PER_PERIOD, trials))
        # A crash lands on one day of the month; a day's loss cannot exceed the whole portfolio.
        crash_day = rng.integers(0, DAYS_PER_PERIOD, trials)
        crashed = rng.random(trials) < CRASH_PROBABILITY
        daily[crash_day[crashed], np.flatnonzero(crashed)] += CRASH_SIZE
        for day_returns in np.maximum(1.0 + daily, 0.0):
            values = values * day_returns
            peaks = np.maximum(peaks, values)
            max_drawdown = np.maximum(max_drawdown, 1.0 - values / peaks)
        values = values + CONTRIBUTION
        invested += CONTRIBUTION
        p5, p50, p95 = np.percentile(values, [5, 50, 95])
        rows.append(
            {
                "period": period,
                "invested": clean(invested, 2),
                "mean": clean(np.mean(values), 2),
                "std": clean(np.std(values), 2),
                "p5": clean(p5, 2),
                "p50": clean(p50, 2),
                "p95": clean(p95, 2),
                "prob_loss": clean(np.mean(values < invested), 4),
                "max_drawdown_p50": clean(np.median(max_drawdown), 4),
            }
        )
        if period % REPORT_EVERY == 0:
            report(2 + 93 * period / PERIODS, f"month {period}/{PERIODS}")

    p5, p50, p95 = np.percentile(values, [5, 50, 95])
    tail = values[values <= p5]
    summary: dict[str, int | float | str] = {
        "trials": trials,
        "periods": PERIODS,
        "invested": clean(invested, 2),
        "mean": clean(np.mean(values), 2),
        "std": clean(np.std(values), 2),
        "p5": clean(p5, 2),
        "p50": clean(p50, 2),
        "p95": clean(p95, 2),
        "prob_loss": clean(np.mean(values < invested), 4),
        # Loss against the money put in, at the 5th percentile and on average beyond it.
        "value_at_risk_95": clean(invested - p5, 2),
        "expected_shortfall_95": clean(invested - np.mean(tail), 2),
        "max_drawdown_p50": clean(np.median(max_drawdown), 4),
        "max_drawdown_p95": clean(np.percentile(max_drawdown, 95), 4),
        "rows": len(rows),
    }

    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
    lines = ["bin_low,bin_high,count"]
    lines += [
        f"{clean(edges[i], 2)!r},{clean(edges[i + 1], 2)!r},{int(counts[i])}" for i in range(counts.size)
    ]
    return ModelResult(summary=summary, rows=rows, artifacts={"histogram.csv": "\n".join(lines) + "\n"})
