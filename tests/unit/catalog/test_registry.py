from __future__ import annotations

import pytest

from runplane.catalog import CATALOG, ModelSpec, get_model, validate_inputs
from runplane.catalog.registry import chosen, clean, data_seed


def test_catalog_has_the_model_runner_models_and_grids() -> None:
    assert {spec.id: (spec.name, spec.params) for spec in CATALOG.values()} == {
        "linear_reg": ("Linear Regression", {"alpha": [0.1, 1.0, 10.0]}),
        "xgb_forecast": ("XGBoost Forecast", {"max_depth": [3, 5, 7]}),
        "simulator": ("Monte Carlo Simulator", {"trials": [100, 1000, 10000]}),
    }
    assert all(key == spec.id and spec.description for key, spec in CATALOG.items())


def test_get_model() -> None:
    spec = get_model("simulator")
    assert isinstance(spec, ModelSpec)
    assert spec.id == "simulator"
    assert get_model("nope") is None


def test_as_dict_is_a_json_safe_copy() -> None:
    spec = CATALOG["linear_reg"]
    public = spec.as_dict()
    assert public == {
        "id": "linear_reg",
        "name": "Linear Regression",
        "description": spec.description,
        "params": {"alpha": [0.1, 1.0, 10.0]},
        "inputs": spec.inputs(),
    }
    assert [item["name"] for item in spec.inputs()] == ["alpha", "parameter_set", "region", "year", "seed"]
    public["params"]["alpha"].append(99.0)  # type: ignore[index]
    assert spec.params["alpha"] == [0.1, 1.0, 10.0]


@pytest.mark.parametrize(
    ("model_id", "inputs"),
    [
        ("linear_reg", {}),
        ("linear_reg", {"region": "NA", "year": 2024, "parameter_set": "baseline"}),
        (
            "linear_reg",
            {"alpha": 1},
        ),  # an int equal to a grid float is the same JSON number
        ("linear_reg", {"alpha": 0.1, "parameter_set": "heavy_penalty", "year": "2024"}),
        ("xgb_forecast", {"max_depth": 7}),
        ("xgb_forecast", {"max_depth": 5.0, "parameter_set": "deep"}),
        ("simulator", {"trials": 10000, "region": "APAC", "year": 1900}),
    ],
)
def test_valid_inputs(model_id: str, inputs: dict[str, object]) -> None:
    assert validate_inputs(model_id, inputs) == {}


@pytest.mark.parametrize(
    ("model_id", "inputs", "field", "message"),
    [
        (
            "linear_reg",
            {"anything": {"nested": [1, 2]}},
            "anything",
            "is not an input of linear_reg; it reads alpha, parameter_set, region, year, seed",
        ),
        (
            "simulator",
            {"alpha": 1.0},
            "alpha",
            "is not an input of simulator; it reads trials, parameter_set, region, year, seed",
        ),
        (
            "xgb_forecast",
            {"parameter_set": "heavy_penalty"},
            "parameter_set",
            'must be one of ["baseline", "shallow", "deep"]; got "heavy_penalty"',
        ),
        ("linear_reg", {"year": 2024.5}, "year", "must be a year 1900..2100; got 2024.5"),
        ("linear_reg", {"year": True}, "year", "must be a year 1900..2100; got true"),
        ("linear_reg", {"region": None}, "region", "must be a name of 1..64 characters; got null"),
    ],
)
def test_inputs_a_model_does_not_read_are_problems(
    model_id: str, inputs: dict[str, object], field: str, message: str
) -> None:
    assert validate_inputs(model_id, inputs) == {field: message}


def test_parameter_set_names_a_preset_and_an_explicit_parameter_wins() -> None:
    spec = CATALOG["xgb_forecast"]
    assert spec.parameters({}) == {}
    assert spec.parameters({"parameter_set": "baseline"}) == {}
    assert spec.parameters({"parameter_set": "deep"}) == {"max_depth": 7}
    assert spec.parameters({"parameter_set": "deep", "max_depth": 3.0}) == {"max_depth": 3}
    assert all(
        set(preset) <= set(spec.params) for spec in CATALOG.values() for preset in spec.presets.values()
    )
    with pytest.raises(ValueError, match="parameter_set"):
        spec.parameters({"parameter_set": "nope"})


@pytest.mark.parametrize(
    ("model_id", "inputs", "field", "message"),
    [
        (
            "linear_reg",
            {"alpha": 0.5},
            "alpha",
            "must be one of [0.1, 1.0, 10.0]; got 0.5",
        ),
        (
            "linear_reg",
            {"alpha": "1.0"},
            "alpha",
            'must be one of [0.1, 1.0, 10.0]; got "1.0"',
        ),
        (
            "xgb_forecast",
            {"max_depth": True},
            "max_depth",
            "must be one of [3, 5, 7]; got true",
        ),
        (
            "xgb_forecast",
            {"max_depth": 4},
            "max_depth",
            "must be one of [3, 5, 7]; got 4",
        ),
        (
            "simulator",
            {"trials": None},
            "trials",
            "must be one of [100, 1000, 10000]; got null",
        ),
        (
            "simulator",
            {"trials": [100]},
            "trials",
            "must be one of [100, 1000, 10000]; got [100]",
        ),
        (
            "simulator",
            {"trials": float("inf")},
            "trials",
            "must be one of [100, 1000, 10000]; got Infinity",
        ),
    ],
)
def test_invalid_grid_values(model_id: str, inputs: dict[str, object], field: str, message: str) -> None:
    assert validate_inputs(model_id, {"region": "EU", **inputs}) == {field: message}


def test_long_values_are_shortened_in_messages() -> None:
    problem = validate_inputs("linear_reg", {"alpha": "x" * 500})["alpha"]
    assert problem.endswith("...")
    assert len(problem) < 100


def test_unknown_model() -> None:
    assert validate_inputs("nope", {}) == {
        "model_id": "unknown model 'nope'; known: linear_reg, xgb_forecast, simulator"
    }


def test_chosen_returns_the_grid_value_with_its_type() -> None:
    assert chosen({"max_depth": 5.0}, "max_depth", (3, 5, 7)) == 5
    assert isinstance(chosen({"max_depth": 5.0}, "max_depth", (3, 5, 7)), int)
    assert chosen({}, "max_depth", (3, 5, 7)) is None
    with pytest.raises(ValueError, match="not in the grid"):
        chosen({"max_depth": 4}, "max_depth", (3, 5, 7))


def test_data_seed_is_stable_across_processes_and_depends_on_the_scenario() -> None:
    base = data_seed(7, "linear_reg", {})
    # A fixed value: a salted hash() would change it between interpreter runs.
    assert base == 17155691075875749161
    assert base == data_seed(7, "linear_reg", {"parameter_set": "other", "alpha": 1.0})
    assert data_seed(7, "linear_reg", {"year": 2024}) == data_seed(7, "linear_reg", {"year": "2024"})
    seeds = {
        base,
        data_seed(8, "linear_reg", {}),
        data_seed(7, "simulator", {}),
        data_seed(7, "linear_reg", {"region": "NA"}),
        data_seed(7, "linear_reg", {"region": "EU"}),
        data_seed(7, "linear_reg", {"region": "EU", "year": 2025}),
    }
    assert len(seeds) == 6
    assert all(0 <= seed < 2**64 for seed in seeds)


def test_clean_rounds_and_drops_negative_zero() -> None:
    assert clean(1.23456789) == 1.234568
    assert clean(2.5, 0) == 2.0
    assert str(clean(-0.0000001)) == "0.0"


def test_a_huge_integer_is_rejected_not_crashed() -> None:
    from runplane.catalog import validate_inputs

    problems = validate_inputs("linear_reg", {"alpha": 10**400})
    assert set(problems) == {"alpha"}


@pytest.mark.parametrize("model_id", ["linear_reg", "simulator"])
def test_a_run_reports_progress_from_its_start(model_id: str) -> None:
    """Loading the libraries (seconds on a busy machine) is reported, so progress never sits at 0."""
    reports: list[tuple[float, str]] = []
    CATALOG[model_id].run({"region": "NA"}, 1, lambda percent, message: reports.append((percent, message)))
    assert reports[0][0] == 1.0 and reports[0][1].startswith("loading")
    percents = [percent for percent, _ in reports]
    assert percents == sorted(percents) and len(set(percents)) >= 5
