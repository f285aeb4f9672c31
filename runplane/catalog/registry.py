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
PRESET_KEY: Final = "parameter_set"
SEED_KEY: Final = "seed"
"""The run's random seed as an input: the task's ``random_seed`` (`input_seed`)."""
MAX_SEED: Final = 4_294_967_295  # TaskCreate.random_seed's maximum
DEFAULT_RUN_SEED: Final = 42
"""The seed of a Model Runner run (``POST /api/runs``) given none (the seed API has no seed field)."""
BASELINE: Final = "baseline"
"""The preset every model has: its defaults (what a run without parameters does)."""
MAX_REGION_CHARS: Final = 64
YEARS: Final = (1900, 2100)

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
    """A runnable model: its parameter grids, the named presets of them, and what each input does.

    ``presets`` maps a `parameter_set` name to parameter values; ``baseline`` (the defaults) is always
    one and sets nothing. ``param_docs`` says what each parameter does and its default.
    """

    id: str
    name: str
    description: str
    params: dict[str, list[ParamValue]]
    run: Runner = field(repr=False, compare=False)
    param_docs: dict[str, str] = field(default_factory=dict)
    presets: dict[str, dict[str, ParamValue]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """The public, JSON-safe description of the model (a fresh copy: callers may mutate it)."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "params": {name: list(grid) for name, grid in self.params.items()},
            "inputs": self.inputs(),
        }

    def input_names(self) -> list[str]:
        """The names of every input this model reads, in `inputs` order: the one list that tasks,
        sweeps (a swept parameter must be one) and the model listings (/v1/models, /api/models) use."""
        return [*self.params, PRESET_KEY, *CONTEXT_KEYS, SEED_KEY]

    def preset_names(self) -> list[str]:
        return [BASELINE, *(name for name in self.presets if name != BASELINE)]

    def inputs(self) -> list[dict[str, object]]:
        """Every input this model reads, what it does and the values it takes (any other is refused)."""
        described: list[dict[str, object]] = [
            {
                "name": name,
                "description": self.param_docs.get(name, f"The model's {name}."),
                "values": list(grid),
            }
            for name, grid in self.params.items()
        ]
        presets = "; ".join(
            f"{name}: "
            + (
                ", ".join(f"{key}={value!r}" for key, value in self.presets[name].items())
                if self.presets.get(name)
                else "the defaults"
            )
            for name in self.preset_names()
        )
        described += [
            {
                "name": PRESET_KEY,
                "description": (
                    "A named preset of this model's parameters (" + presets + "). A parameter given "
                    "as an input too overrides the preset's value."
                ),
                "values": self.preset_names(),
            },
            {
                "name": "region",
                "description": (
                    "The scenario's region, any name up to 64 characters (e.g. NA, EU, APAC): with `year` "
                    "and the run's seed it selects the generated data set, so another region is other data "
                    "and the same region and year give the same data again."
                ),
            },
            {
                "name": "year",
                "description": (
                    f"The scenario's year, {YEARS[0]}..{YEARS[1]} (a number or its digits as a string): "
                    "with `region` and the run's seed it selects the generated data set."
                ),
            },
            {
                "name": SEED_KEY,
                "description": (
                    f"The run's random seed, 0..{MAX_SEED}: with the model and `region` / `year` it fixes "
                    "the generated data and the model's randomness, so the same inputs give the same rows. "
                    "It is the run's task's `random_seed` (a task that gives both must give the same "
                    "value; in a sweep it replaces the derived seed). Without it a task's `random_seed` "
                    f"applies, and a Model Runner run (/api/runs) uses {DEFAULT_RUN_SEED}."
                ),
            },
        ]
        assert [item["name"] for item in described] == self.input_names()
        return described

    def parameters(self, inputs: Mapping[str, object]) -> dict[str, ParamValue]:
        """The parameter values a run uses: the `parameter_set` preset's, then the inputs' own values.

        A parameter absent from both keeps the model's default. Raises ValueError for an input value
        that is not a grid value or an unknown preset (``validate_inputs`` reports both first).
        """
        preset = inputs.get(PRESET_KEY)
        values: dict[str, ParamValue] = {}
        if preset is not None:
            if not isinstance(preset, str) or preset not in self.preset_names():
                raise ValueError(f"{PRESET_KEY}={preset!r} is not one of {self.preset_names()}")
            values.update(self.presets.get(preset, {}))
        for name, grid in self.params.items():
            value = chosen(inputs, name, tuple(grid))
            if value is not None:
                values[name] = value
        return values


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


# Loading the libraries is a visible part of a run (seconds for scikit-learn or xgboost on a busy
# machine): each runner reports it before the import, so progress moves from the start, not 0 then 100.
LOADING_PERCENT: Final = 1.0


def _run_linear_reg(inputs: Mapping[str, object], seed: int, report: Progress) -> ModelResult:
    report(LOADING_PERCENT, "loading numpy and scikit-learn")
    from runplane.catalog import linear_reg

    alpha = CATALOG["linear_reg"].parameters(inputs).get("alpha")
    alphas = [float(alpha)] if alpha is not None else [float(a) for a in ALPHA_GRID]
    return linear_reg.run(alphas, data_seed(seed, "linear_reg", inputs), report)


def _run_xgb_forecast(inputs: Mapping[str, object], seed: int, report: Progress) -> ModelResult:
    report(LOADING_PERCENT, "loading numpy and xgboost")
    from runplane.catalog import xgb_forecast

    depth = CATALOG["xgb_forecast"].parameters(inputs).get("max_depth")
    max_depth = int(depth) if depth is not None else xgb_forecast.DEFAULT_MAX_DEPTH
    return xgb_forecast.run(max_depth, data_seed(seed, "xgb_forecast", inputs), report)


def _run_simulator(inputs: Mapping[str, object], seed: int, report: Progress) -> ModelResult:
    report(LOADING_PERCENT, "loading numpy")
    from runplane.catalog import simulator

    count = CATALOG["simulator"].parameters(inputs).get("trials")
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
            param_docs={
                "alpha": "The ridge penalty to cross-validate (default: every alpha of the grid, the best "
                "one refit)."
            },
            presets={"light_penalty": {"alpha": 0.1}, "heavy_penalty": {"alpha": 10.0}},
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
            param_docs={"max_depth": "The depth of each boosted tree (default 5)."},
            presets={"shallow": {"max_depth": 3}, "deep": {"max_depth": 7}},
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
            param_docs={"trials": "How many simulated portfolios (default 1000)."},
            presets={"quick": {"trials": 100}, "thorough": {"trials": 10000}},
        ),
    )
}


def get_model(model_id: str) -> ModelSpec | None:
    return CATALOG.get(model_id)


def _shown(value: object) -> str:
    shown = json.dumps(value, default=str)
    return shown[: MAX_SHOWN - 3] + "..." if len(shown) > MAX_SHOWN else shown


def _year_problem(value: object) -> str | None:
    year: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        year = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 4:
        year = int(value)
    if year is None or not YEARS[0] <= year <= YEARS[1]:
        return f"must be a year {YEARS[0]}..{YEARS[1]}; got {_shown(value)}"
    return None


def validate_inputs(model_id: str, inputs: Mapping[str, object]) -> dict[str, str]:
    """Problems with ``inputs`` for ``model_id``, as field -> message; empty when the inputs are fine.

    A model reads its parameters (a grid value each), `parameter_set` (one of its presets), `region`,
    `year` and `seed` (``ModelSpec.input_names``, described by ``ModelSpec.inputs``); any other input is a
    problem, never silently ignored.
    """
    spec = get_model(model_id)
    if spec is None:
        return {"model_id": f"unknown model {model_id!r}; known: {', '.join(CATALOG)}"}
    problems: dict[str, str] = {}
    known = spec.input_names()
    for name in inputs:
        if name not in known:
            problems[name] = f"is not an input of {model_id}; it reads {', '.join(known)}"
    for name, grid in spec.params.items():
        if name not in inputs:
            continue
        value = inputs[name]
        if not (_is_number(value) and any(value == candidate for candidate in grid)):
            problems[name] = f"must be one of {json.dumps(grid)}; got {_shown(value)}"
    preset = inputs.get(PRESET_KEY)
    if PRESET_KEY in inputs and preset not in spec.preset_names():
        problems[PRESET_KEY] = f"must be one of {json.dumps(spec.preset_names())}; got {_shown(preset)}"
    region = inputs.get("region")
    if "region" in inputs and not (isinstance(region, str) and 0 < len(region) <= MAX_REGION_CHARS):
        problems["region"] = f"must be a name of 1..{MAX_REGION_CHARS} characters; got {_shown(region)}"
    if "year" in inputs and (problem := _year_problem(inputs["year"])) is not None:
        problems["year"] = problem
    if SEED_KEY in inputs and input_seed(inputs) is None:
        problems[SEED_KEY] = f"must be an integer 0..{MAX_SEED}; got {_shown(inputs[SEED_KEY])}"
    return problems


def input_seed(inputs: Mapping[str, object]) -> int | None:
    """The ``seed`` input when it is a valid seed (an integer 0..MAX_SEED, not a boolean); None when
    absent or invalid (`validate_inputs` reports an invalid one)."""
    value = inputs.get(SEED_KEY)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SEED:
        return value
    return None
