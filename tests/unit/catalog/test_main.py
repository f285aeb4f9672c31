from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runplane.catalog.__main__ import main
from runplane.task import PROGRESS_PREFIX

REPO_ROOT = Path(__file__).resolve().parents[3]


def _run_module(
    model_id: str, out: Path, inputs: str | None = None, seed: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RUNPLANE_")}
    env["RUNPLANE_OUTPUT_DIR"] = str(out)
    if inputs is not None:
        env["RUNPLANE_MODEL_INPUTS"] = inputs
    if seed is not None:
        env["RUNPLANE_RANDOM_SEED"] = seed
    return subprocess.run(
        [sys.executable, "-m", "runplane.catalog", model_id],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _progress(stdout: str) -> list[float]:
    return [float(line.split()[1]) for line in stdout.splitlines() if line.startswith(PROGRESS_PREFIX + " ")]


def test_simulator_subprocess_reports_progress_and_writes_results(
    tmp_path: Path,
) -> None:
    done = _run_module("simulator", tmp_path, '{"trials": 100, "region": "NA"}', "7")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    percents = _progress(done.stdout)
    assert len(percents) >= 5
    assert percents == sorted(percents)
    assert len(set(percents)) == len(percents)
    assert percents[0] == 0
    assert percents[-1] == 100
    # Anything that is not a progress line is a short human log line.
    assert all(len(line) < 200 for line in done.stdout.splitlines())

    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results) == {"summary", "rows"}
    assert results["summary"]["model"] == "simulator"
    assert results["summary"]["seed"] == 7
    assert results["summary"]["trials"] == 100
    assert results["summary"]["rows"] == len(results["rows"]) == 60
    assert len({tuple(row) for row in results["rows"]}) == 1
    assert (tmp_path / "histogram.csv").is_file()
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "histogram.csv",
        "results.json",
    ]


def test_same_seed_gives_byte_identical_results(tmp_path: Path) -> None:
    outputs = {}
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        done = _run_module("simulator", tmp_path / name, '{"trials": 100}', seed)
        assert done.returncode == 0, done.stderr
        outputs[name] = (tmp_path / name / "results.json").read_bytes()
    assert outputs["a"] == outputs["b"]
    assert json.loads(outputs["a"])["rows"] != json.loads(outputs["c"])["rows"]


def test_unknown_model_exits_2(tmp_path: Path) -> None:
    done = _run_module("nope", tmp_path)
    assert done.returncode == 2
    assert "unknown model 'nope'" in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "results.json").exists()


@pytest.mark.parametrize(
    ("argv", "inputs", "seed", "message"),
    [
        ([], None, None, "usage: python -m runplane.catalog <model_id>"),
        (["a", "b"], None, None, "usage:"),
        (
            ["linear_reg"],
            '{"alpha": 2}',
            None,
            "invalid inputs: alpha: must be one of [0.1, 1.0, 10.0]; got 2",
        ),
        (
            ["xgb_forecast"],
            "{not json",
            None,
            "RUNPLANE_MODEL_INPUTS is not valid JSON",
        ),
        (
            ["xgb_forecast"],
            '{"max_depth": NaN}',
            None,
            "RUNPLANE_MODEL_INPUTS is not valid JSON",
        ),
        (["simulator"], "[1, 2]", None, "RUNPLANE_MODEL_INPUTS must be a JSON object"),
        (
            ["simulator"],
            None,
            "seven",
            "RUNPLANE_RANDOM_SEED must be an integer, got 'seven'",
        ),
    ],
)
def test_bad_usage_exits_2(
    argv: list[str],
    inputs: str | None,
    seed: str | None,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RUNPLANE_OUTPUT_DIR", str(tmp_path))
    for name, value in (
        ("RUNPLANE_MODEL_INPUTS", inputs),
        ("RUNPLANE_RANDOM_SEED", seed),
    ):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""
    assert list(tmp_path.iterdir()) == []


def test_defaults_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RUNPLANE_OUTPUT_DIR", str(tmp_path))
    monkeypatch.setenv("RUNPLANE_MODEL_INPUTS", "")
    monkeypatch.delenv("RUNPLANE_RANDOM_SEED", raising=False)
    assert main(["linear_reg"]) == 0
    percents = _progress(capsys.readouterr().out)
    assert percents[0] == 0
    assert percents[-1] == 100
    assert percents == sorted(percents)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["summary"]["seed"] == 0
    assert results["summary"]["alphas"] == 3
    assert (tmp_path / "coefficients.csv").is_file()
