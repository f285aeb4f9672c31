"""Run one catalog model as a task: ``python -m runplane.catalog <model_id>``.

Environment: ``RUNPLANE_MODEL_INPUTS`` (JSON object, default ``{}``), ``RUNPLANE_RANDOM_SEED`` (int,
default 0), ``RUNPLANE_OUTPUT_DIR`` (where results.json and one extra artifact go). Progress goes to stdout
through ``runplane.task.progress``; bad usage or inputs exit with code 2 and a message on stderr.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Final

from runplane.catalog.registry import ModelResult, get_model, validate_inputs
from runplane.task import output_dir, progress

USAGE_ERROR: Final = 2
# The model's own 0..100 maps into this band; the ends belong to start-up and to writing the results.
MODEL_BAND: Final = (2.0, 95.0)


class UsageError(Exception):
    pass


class _RisingProgress:
    """Forwards progress as whole percentages, only when they rise, so the task's progress is monotonic."""

    def __init__(self) -> None:
        self.last = -1

    def __call__(self, percent: float, message: str) -> None:
        value = int(max(0.0, min(100.0, percent)))
        if value > self.last:
            self.last = value
            progress(value, message)

    def model(self, percent: float, message: str) -> None:
        low, high = MODEL_BAND
        self(low + (high - low) * max(0.0, min(100.0, percent)) / 100.0, message)


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def read_inputs() -> dict[str, object]:
    text = os.environ.get("RUNPLANE_MODEL_INPUTS", "").strip() or "{}"
    try:
        inputs = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise UsageError(f"RUNPLANE_MODEL_INPUTS is not valid JSON: {exc}") from None
    if not isinstance(inputs, dict):
        raise UsageError("RUNPLANE_MODEL_INPUTS must be a JSON object")
    return inputs


def read_seed() -> int:
    text = os.environ.get("RUNPLANE_RANDOM_SEED", "").strip() or "0"
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"RUNPLANE_RANDOM_SEED must be an integer, got {text!r}") from None


def results_json(model_id: str, seed: int, result: ModelResult) -> str:
    summary = {"model": model_id, "seed": seed, **result.summary}
    return json.dumps({"summary": summary, "rows": result.rows}, indent=2, allow_nan=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if len(args) != 1:
            raise UsageError("usage: python -m runplane.catalog <model_id>")
        spec = get_model(args[0])
        if spec is None:
            raise UsageError(validate_inputs(args[0], {})["model_id"])
        inputs = read_inputs()
        seed = read_seed()
        problems = validate_inputs(spec.id, inputs)
        if problems:
            raise UsageError("invalid inputs: " + "; ".join(f"{k}: {v}" for k, v in problems.items()))
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return USAGE_ERROR

    report = _RisingProgress()
    report(0, f"starting {spec.id} (seed {seed})")
    result = spec.run(inputs, seed, report.model)
    report(MODEL_BAND[1] + 1, "writing results")
    out = output_dir()
    (out / "results.json").write_text(results_json(spec.id, seed, result), encoding="utf-8")
    for name, text in result.artifacts.items():
        (out / name).write_text(text, encoding="utf-8")
    extra = ", ".join(result.artifacts) or "nothing else"
    print(f"{spec.id}: wrote results.json ({len(result.rows)} rows) and {extra}")
    report(100, "done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
