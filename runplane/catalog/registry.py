"""The model catalog: which models exist, their parameter grids, and how inputs map onto a run.

The model modules (scikit-learn, xgboost) are imported only when a model actually runs, so the API server can
list and validate models without paying for those imports.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, SupportsFloat, TypeAlias

ParamValue: TypeAlias = int | float
Scalar: TypeAlias = int | float | str
Row: TypeAlias = dict[str, Scalar]
Progress: TypeAlias = Callable[[float, str], None]
"""Called by a model with its own progress (0..100) and a short message."""

# The inputs that describe the scenario a run is about; they select the generated data set.
CONTEXT_KEYS: Final = ("region", "year")

ALPHA_GRID: Final[tuple[float, ...]] = (0.1, 1.0, 10.0)
MAX_DEPTH_GRID: Final[tuple[int, ...]] = (3, 5, 7)
TRIALS_GRID: Final[tuple[int, ...]] = (100, 1000, 10000)
# Longest rendering of a rejected value in a validation message.
MAX_SHOWN: Final = 40


@dataclass(frozen=True)
class ModelResult:
    """What a model produced: ``summary`` and ``rows`` go to results.json; ``artifacts`` maps a file name to
    its text content."""

    summary: dict[str, Scalar]
    rows: list[Row]
    artifacts: dict[str, str] = field(default_factory=dict)


Runner: TypeAlias = Callable[[Mapping[str, object], int, Progress], ModelResult]
"""Runs a model on already validated ``inputs`` with the run's ``seed``."""


@dataclass(frozen=True)
class ModelSpec:
    id: str
    name: str
    description: str
    params: dict[str, list[ParamValue]]
    run: Runner = field(repr=False, compare=False)

    def as_dict(self) -> dict[str, object]:
        """The public, JSON-safe description of the model (a fresh copy: callers may mutate it)."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "params": {name: list(grid) for name, grid in self.params.items()},
        }


def clean(value: SupportsFloat, digits: int = 6) -> float:
    """Round for results.json so a re-run gives byte-identical JSON; ``+ 0.0`` turns -0.0 into 0.0."""
    return round(float(value), digits) + 0.0


def data_seed(seed: int, model_id: str, inputs: Mapping[str, object]) -> int:
    """A seed for the generated data that depends on the run seed, the model and the scenario inputs.

    sha256 of canonical JSON rather than ``hash()``: Python salts string hashes per process. ``str()`` makes
    ``"year": 2024`` and ``"year": "2024"`` the same scenario.
    """
    context = {key: str(inputs[key]) for key in CONTEXT_KEYS if inputs.get(key) is not None}
    canonical = json.dumps([int(seed), model_id, context], sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "big")


def _is_number(value: object) -> bool:
    # math.isfinite() on an int too large for a float raises OverflowError; ints are always finite.
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def chosen(inputs: Mapping[str, object], name: str, grid: tuple[ParamValue, ...]) -> ParamValue | None:
    """The grid's own value (with the grid's type) that ``inputs[name]`` equals, or None when not given."""
    value = inputs.get(name)
    if value is None:
        return None
    for candidate in grid:
        if _is_number(value) and value == candidate:
            return candidate
    raise ValueError(f"{name}={value!r} is not in the grid {list(grid)}")


def _run_linear_reg(inputs: Mapping[str, object], seed: int, report: Progress) -> ModelResult:
    from runplane.catalog import linear_reg

    alpha = chosen(inputs, "alpha", ALPHA_GRID)
    alphas = [float(alpha)] if alpha is not None else [float(a) for a in ALPHA_GRID]
    return linear_reg.run(alphas, data_seed(seed, "linear_reg", inputs), report)


def _run_xgb_forecast(inputs: Mapping[str, object], seed: int, report: Progress) -> ModelResult:
    from runplane.catalog import xgb_forecast

    depth = chosen(inputs, "max_depth", MAX_DEPTH_GRID)
    max_depth = int(depth) if depth is not None else xgb_forecast.DEFAULT_MAX_DEPTH
    return xgb_forecast.run(max_depth, data_seed(seed, "xgb_forecast", inputs), report)


def _run_simulator(inputs: Mapping[str, object], seed: int, report: Progress) -> ModelResult:
    from runplane.catalog import simulator

    count = chosen(inputs, "trials", TRIALS_GRID)
    trials = int(count) if count is not None else simulator.DEFAULT_TRIALS
    return simulator.run(trials, data_seed(seed, "simulator", inputs), report)


CATALOG: Final[dict[str, ModelSpec]] = {
    spec.id: spec
    for spec in (
        ModelSpec(
            id="linear_reg",
            name="Linear Regression",
            description=(
                "Ridge regression on a synthetic data set with correlated features, scored by 5-fold "
                "cross-validation for the chosen alpha (every alpha of the grid when none is given)."
            ),
            params={"alpha": list(ALPHA_GRID)},
            run=_run_linear_reg,
        ),
        ModelSpec(
            id="xgb_forecast",
            name="XGBoost Forecast",
            description=(
                "Gradient-boosted trees on lag and calendar features of a synthetic daily series with trend "
                "and seasonality; forecasts the last 28 days recursively (max_depth 5 when none is given)."
            ),
            params={"max_depth": list(MAX_DEPTH_GRID)},
            run=_run_xgb_forecast,
        ),
        ModelSpec(
            id="simulator",
            name="Monte Carlo Simulator",
            description=(
                "Simulates a portfolio with monthly contributions, fat-tailed returns and rare crashes over "
                "60 months; per-month percentiles and tail risk (1000 trials when none is given)."
            ),
            params={"trials": list(TRIALS_GRID)},
            run=_run_simulator,
        ),
    )
}


def get_model(model_id: str) -> ModelSpec | None:
    return CATALOG.get(model_id)


def validate_inputs(model_id: str, inputs: Mapping[str, object]) -> dict[str, str]:
    """Problems with ``inputs`` for ``model_id``, as field -> message; empty when the inputs are fine.

    Inputs are free-form; only a key that names one of the model's parameters must hold a grid value.
    """
    spec = get_model(model_id)
    if spec is None:
        return {"model_id": f"unknown model {model_id!r}; known: {', '.join(CATALOG)}"}
    problems: dict[str, str] = {}
    for name, grid in spec.params.items():
        if name not in inputs:
            continue
        value = inputs[name]
        if not (_is_number(value) and any(value == candidate for candidate in grid)):
            shown = json.dumps(value, default=str)
            if len(shown) > MAX_SHOWN:
                shown = shown[: MAX_SHOWN - 3] + "..."
            problems[name] = f"must be one of {json.dumps(grid)}; got {shown}"
    return problems
