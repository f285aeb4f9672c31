"""The pure rules of sweeps: expansion order and bounds, placeholders, derived seeds, labels, metrics."""

from __future__ import annotations

from typing import Any

import pytest

from generated.models import TaskCreate
from runplane.errors import Unprocessable
from runplane.store.sweeps import TASKS, SweepTaskView
from runplane.sweeps import (
    MAX_TASKS,
    CommandTemplate,
    SweepRequest,
    best_trial,
    derive_seed,
    expand,
    placeholders,
    progress_of,
    render,
    results_table,
    summary_metrics,
    task_columns,
    variation_label,
)
from runplane.tasks import new_task_row

TASK = {"job_name": "t", "entrypoint": "run", "args": ["{a}", "{b}"]}


def request(**body: Any) -> SweepRequest:
    return SweepRequest.from_body({"task": TASK, **body})


def test_grid_is_the_cartesian_product_first_parameter_slowest() -> None:
    expansion = expand(request(grid={"a": [1, 2], "b": ["x", "y", "z"]}))
    assert expansion.parameters == ["a", "b"]
    assert expansion.variations == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 1, "b": "z"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
        {"a": 2, "b": "z"},
    ]


def test_variations_keep_their_order_and_name_every_parameter() -> None:
    expansion = expand(request(variations=[{"a": 1}, {"b": 2, "a": 3}]))
    assert expansion.parameters == ["a", "b"]
    assert expansion.variations == [{"a": 1}, {"b": 2, "a": 3}]


def test_the_task_bound_counts_repeats_before_expanding() -> None:
    expand(request(grid={"a": list(range(100)), "b": list(range(100))}))  # exactly MAX_TASKS
    with pytest.raises(Unprocessable) as raised:
        expand(request(grid={"a": list(range(100)), "b": list(range(100))}, repeats=2))
    assert raised.value.details == {"field": "repeats", "tasks": 2 * MAX_TASKS, "limit": MAX_TASKS}


def test_placeholders_and_escapes() -> None:
    assert placeholders("--lr={lr} {{not}} {b}{c}") == ["lr", "b", "c"]
    assert placeholders("${{HOME}}") == []
    assert render("--lr={lr} {{lr}} }}{{", {"lr": "0.1"}) == "--lr=0.1 {lr} }{"
    assert render("a { b", {}) == "a { b"  # a lone brace is literal
    with pytest.raises(KeyError):
        render("{missing}", {"lr": "1"})


def test_command_template_renders_values_as_json_writes_them() -> None:
    expansion = expand(request(variations=[{"a": True, "b": 0.5}, {"a": "text", "b": 3}]))
    template = CommandTemplate.of(TaskCreate.model_validate(TASK), expansion)
    assert template.apply(0, expansion.variations[0]) == (["true", "0.5"], {})
    assert template.apply(1, expansion.variations[1]) == (["text", "3"], {})


def test_derived_seeds_are_deterministic_distinct_and_32_bit() -> None:
    seeds = {derive_seed(7, index, trial) for index in range(100) for trial in range(1, 11)}
    assert len(seeds) == 1000
    assert all(0 <= seed < 2**32 for seed in seeds)
    assert derive_seed(7, 3, 2) == derive_seed(7, 3, 2)
    assert derive_seed(7, 3, 2) != derive_seed(8, 3, 2)
    # Fixed: a sweep resubmitted with its seed on another version or machine reproduces every run.
    assert derive_seed(0, 0, 1) == 1833311923


def test_variation_label() -> None:
    assert variation_label({"lr": 0.1, "opt": "adam", "warm": False}) == "lr=0.1,opt=adam,warm=false"


def test_summary_metrics_keep_finite_numbers_only() -> None:
    summary = {"rmse": 1.5, "n": 3, "ok": True, "name": "x", "nested": {"a": 1}, "bad": float("nan")}
    assert summary_metrics(summary) == {"rmse": 1.5, "n": 3}


def test_summary_metrics_keep_the_contracts_names_and_values_only() -> None:
    summary = {"k" * 129: 1, "": 2, "k" * 128: 3, "inf": float("inf"), "big": 10**400, "edge": 1e300}
    assert summary_metrics(summary) == {"k" * 128: 3, "edge": 1e300}
    assert len(summary_metrics({f"m{n}": n for n in range(300)})) == 256
    assert len(summary_metrics({f"m{n}": n for n in range(300)}, limit=None)) == 300


def test_results_table_keeps_the_256_names_found_in_most_rows() -> None:
    common = {f"c{n}": n for n in range(200)}
    tasks = [
        view("t0", 0, "completed", {**common, **{f"a{n}": n for n in range(100)}}),
        view("t1", 1, "completed", {**common, **{f"b{n}": n for n in range(100)}}),
    ]
    table = results_table(tasks)
    assert len(table.metrics) == 256 and table.metrics_omitted == 144
    assert set(common) <= set(table.metrics) and table.metrics == sorted(table.metrics)
    assert all(set(row.summary) <= set(table.metrics) for row in table.rows)


def view(task_id: str, index: int, status: str, summary: dict[str, Any]) -> SweepTaskView:
    return SweepTaskView(task_id, status, index, 1, 0, {"a": index}, summary, {}, {}, None)


def test_best_trial_by_goal_ties_to_the_earlier_variation() -> None:
    tasks = [
        view("t0", 0, "completed", {"loss": 2.0}),
        view("t1", 1, "completed", {"loss": 1.0}),
        view("t2", 2, "completed", {"loss": 1.0}),
        view("t3", 3, "failed", {"loss": 0.1}),
        view("t4", 4, "completed", {}),
    ]
    low = best_trial(tasks, "loss", "min")
    assert low is not None and (low.task_id, low.value, low.variation) == ("t1", 1.0, {"a": 1})
    high = best_trial(tasks, "loss", "max")
    assert high is not None and high.task_id == "t0"
    assert best_trial(tasks, "acc", "max") is None


def test_progress_counts_finished_whole_and_active_by_their_progress() -> None:
    progress = progress_of(4, {"completed": 1, "running": 2, "queued": 1}, 50.0)
    assert progress.progress == 37.5 and not progress.finished
    assert progress.counts["failed"] == 0
    assert progress_of(2, {"cancelled": 1, "failed": 1}, 0.0).finished


def test_task_columns_name_every_column_of_tasks_by_its_database_name() -> None:
    columns = task_columns(new_task_row("alice", TaskCreate.model_validate(TASK)))
    assert set(columns) == {column.name for column in TASKS.columns}
    assert columns["metadata"] == {} and columns["cancel_requested"] is False
    assert columns["args"] == ["{a}", "{b}"] and columns["sweep_id"] is None
