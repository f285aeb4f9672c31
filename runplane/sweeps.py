"""Parameter sweeps: one task template run once per variation and repeat, tracked as one object.

A sweep's variations come from a ``grid`` (parameter name → values; the cartesian product, the first
parameter varying slowest, as ``itertools.product`` does) or from an explicit list of ``variations``. Each
variation runs ``repeats`` times; the repeat (1-based) is the run identity's ``trial``.

Where the values go:

- a catalog model run gets them in its ``inputs`` (over the template's own inputs). A parameter must be one
  the model reads (`runplane.catalog.ModelSpec.input_names`: what the model listings show), and each value
  must pass the model's input validation; a ``seed`` input is the task's seed (not a derived one);
- a command gets them through ``{name}`` placeholders in ``args`` and in ``env`` values (``{{`` and ``}}``
  are literal braces). A placeholder that names no parameter, and a parameter no placeholder uses, are
  refused: a swept value that would silently not reach the run is a mistake. Values are written as JSON
  writes them (``true``, ``0.1``), strings as they are.

Seeds: each task's ``random_seed`` is derived from the sweep's seed, the variation index and the trial
(:func:`derive_seed`), so a sweep resubmitted with the same seed reproduces every run, and no two runs of one
sweep share a seed by construction of the inputs (a 32-bit hash; collisions are possible, not systematic).

Everything is checked before anything is written; the sweep and all its tasks are then inserted in one
transaction (SQLAlchemy Core bulk inserts), so a sweep is created whole or not at all.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import re
import secrets
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeAlias

import anyio.to_thread

from generated.models import TaskCreate
from runplane import lifecycle
from runplane.catalog import get_model, input_seed, validate_inputs
from runplane.errors import Conflict, NotFound, Unprocessable
from runplane.lifecycle import ALL, TERMINAL, TaskStatus
from runplane.redaction import SecretValues
from runplane.security import Principal
from runplane.store.sweeps import SweepClash, SweepStore, SweepTaskView
from runplane.store.tables import SweepRow, TaskRow
from runplane.tasks import new_task_row, request_fingerprint, task_args

if TYPE_CHECKING:
    from runplane.artifacts import ArtifactManager
    from runplane.tasks import TaskManager

logger = logging.getLogger("runplane.sweeps")

Value: TypeAlias = int | float | str | bool
Variation: TypeAlias = dict[str, Value]

MAX_TASKS: Final = 10_000
MAX_PARAMETERS: Final = 16
MAX_TEXT: Final = 4096  # the contract's bound on one arg and on one env value
MAX_METRICS: Final = 256  # the contract's bound on SweepResults.metrics (and on one ResultSummary)
MAX_METRIC_NAME: Final = 128  # SweepMetricName's maxLength
MAX_METRIC_VALUE: Final = 1e300
MAX_EXACT_INT: Final = 2**53 - 1  # SweepValue's integer bound: what every JSON client holds exactly
STATUSES: Final = ALL
GOALS: Final = ("min", "max")

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# `{{` and `}}` are escapes; `{...}` is a placeholder, whatever it holds (checked against the parameters).
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


# --- pure rules: expansion, templates, seeds ----------------------------------------------------------


def derive_seed(base_seed: int, variation_index: int, trial: int) -> int:
    """The seed of one run: 32 bits of sha256 over (base seed, variation index, trial), in 0..2**32-1.

    sha256 rather than ``hash()`` or a seeded PRNG stream, so the value depends only on these three numbers
    (not on the Python version, the process or how many tasks came before).
    """
    digest = hashlib.sha256(f"runplane-sweep:{base_seed}:{variation_index}:{trial}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def render_value(value: Value) -> str:
    """A value as a command sees it: strings as they are, the rest as JSON writes them."""
    return value if isinstance(value, str) else json.dumps(value)


def placeholders(text: str) -> list[str]:
    """The names of the ``{name}`` placeholders in ``text`` (escaped braces ``{{``/``}}`` excluded)."""
    return [match.group(1) for match in _TOKEN.finditer(text) if match.group(1) is not None]


def render(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each ``{name}`` replaced by ``values[name]`` and ``{{``/``}}`` by single braces.

    KeyError when a placeholder names no key of ``values`` (callers check the names first).
    """

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)[0]
        return values[name]

    return _TOKEN.sub(one, text)


def variation_label(values: Mapping[str, Value]) -> str:
    """``name=value`` pairs joined by commas, in the parameters' order (aiperf's variation label)."""
    return ",".join(f"{name}={render_value(value)}" for name, value in values.items())


def metric_value(value: Any) -> int | float | None:
    """``value`` when a sweep keeps it as a metric: an int or a finite float within ±1e300 (so that it
    converts to a float exactly enough to compare and to report as the best trial's ``value``); None for
    anything else (booleans, text, nested values, NaN, infinities, huge numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if abs(value) > MAX_METRIC_VALUE:
        return None
    return value


def summary_metrics(summary: Mapping[str, Any], limit: int | None = MAX_METRICS) -> dict[str, int | float]:
    """The metrics of a results ``summary``: its numbers (`metric_value`) under names of 1..128 characters
    (the contract's ``SweepMetricName``), the first ``limit`` such (None: all); what a sweep's table and
    best trial compare. Applied when a task's summary is stored (the first 256 kept) and again when the
    table is read (`results_table`), so a row stored before a bound existed is held to it too."""
    metrics: dict[str, int | float] = {}
    for name, value in summary.items():
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_METRIC_NAME:
            continue
        number = metric_value(value)
        if number is None:
            continue
        metrics[name] = number
        if limit is not None and len(metrics) >= limit:
            break
    return metrics


class ResultRow(NamedTuple):
    """One row of a sweep's results table, by the contract's names (``SweepResultRow``)."""

    task_id: str
    status: str
    variation_index: int
    trial: int
    random_seed: int
    variation: Variation
    summary: dict[str, int | float]


@dataclass(frozen=True)
class ResultsTable:
    """A sweep's results table within the contract's bounds: the metric names kept (sorted), how many other
    names the tasks wrote, and one row per task with its summary cut to the kept names and its variation
    as its task's views show it."""

    metrics: list[str]
    metrics_omitted: int
    rows: list[ResultRow]


def results_table(tasks: Sequence[SweepTaskView]) -> ResultsTable:
    """The table of ``tasks`` (already in variation then trial order): at most 256 metric names, those
    found in most rows (ties by name), whatever the tasks wrote."""
    summaries = [summary_metrics(task.summary, limit=None) if task.summary else {} for task in tasks]
    found = Counter(name for summary in summaries if summary for name in summary)
    if len(found) > MAX_METRICS:  # then every row keeps at most MAX_METRICS too
        ranked = sorted(found, key=lambda name: (-found[name], name))
        kept = set(ranked[:MAX_METRICS])
        summaries = [{k: v for k, v in summary.items() if k in kept} for summary in summaries]
    else:
        kept = set(found)
    rows = [
        ResultRow(
            task.id,
            task.status,
            task.variation_index,
            task.trial,
            task.random_seed,
            shown_variation(task),
            summary,
        )
        for task, summary in zip(tasks, summaries, strict=True)
    ]
    return ResultsTable(sorted(kept), len(found) - len(kept), rows)


def shown_variation(task: SweepTaskView) -> Variation:
    """The task's variation as its own views show it (`runplane.lifecycle.shown_field`): its secret values
    redacted, also once they were erased (from the redacted copy kept then)."""
    if not task.secrets and not task.plugin_configs and not task.redacted_view:
        return task.variation  # nothing to hide: the common case, 10,000 times per table
    hidden = lifecycle.secret_values(task.secrets, task.plugin_configs)
    shown: Variation = lifecycle.shown_field(task, "variation", hidden) or {}
    return shown


@dataclass(frozen=True)
class SweepRequest:
    """A POST /v1/sweeps body, read from the schema-checked JSON (values keep their JSON types)."""

    task: TaskCreate
    name: str | None
    grid: dict[str, list[Value]] | None
    variations: list[Variation] | None
    repeats: int
    random_seed: int | None
    fingerprint: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> SweepRequest:
        return cls(
            task=TaskCreate.model_validate(body["task"]),
            name=body.get("name"),
            grid={name: list(values) for name, values in body["grid"].items()} if "grid" in body else None,
            variations=[dict(item) for item in body["variations"]] if "variations" in body else None,
            repeats=int(body.get("repeats", 1)),
            random_seed=body.get("random_seed"),
            fingerprint=request_fingerprint(dict(body)),
        )


@dataclass(frozen=True)
class Expansion:
    """The checked plan of a sweep: its parameters (in order) and every variation's values."""

    parameters: list[str]
    variations: list[Variation]


def expand(request: SweepRequest) -> Expansion:
    """The variations of a request; 422 for a bad shape, a bad parameter name or more than 10,000 tasks."""
    if (request.grid is None) == (request.variations is None):
        raise Unprocessable(
            "Give exactly one of 'grid' or 'variations'",
            details={"field": "grid" if request.grid is None else "variations"},
        )
    if request.grid is not None:
        parameters = list(request.grid)
        _check_names(parameters, "grid")
        count = math.prod(len(values) for values in request.grid.values())
        _check_size(count, request.repeats)
        for name, values in request.grid.items():
            for value in values:
                _check_value(value, f"grid.{name}")
        combos = itertools.product(*(request.grid[name] for name in parameters))
        return Expansion(parameters, [dict(zip(parameters, combo, strict=True)) for combo in combos])
    assert request.variations is not None
    _check_size(len(request.variations), request.repeats)
    parameters = list(dict.fromkeys(name for variation in request.variations for name in variation))
    _check_names(parameters, "variations")
    for index, variation in enumerate(request.variations):
        for name, value in variation.items():
            _check_value(value, f"variations.{index}.{name}")
    return Expansion(parameters, request.variations)


def _check_value(value: Value, field: str) -> None:
    """422 for an integer a JSON client cannot hold exactly: the contract's number branch of SweepValue
    admits it, but what ran (its exact digits) would then be reported rounded."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_EXACT_INT:
        shown = str(value) if len(str(value)) <= 40 else str(value)[:37] + "..."
        raise Unprocessable(
            f"Value {shown} of {field} is an integer beyond ±{MAX_EXACT_INT} (2^53-1), which cannot be "
            "reported exactly; give it as a string",
            details={"field": field, "limit": MAX_EXACT_INT},
        )


def _check_names(parameters: Sequence[str], field: str) -> None:
    if len(parameters) > MAX_PARAMETERS:
        raise Unprocessable(f"A sweep varies at most {MAX_PARAMETERS} parameters", details={"field": field})
    for name in parameters:
        if not _NAME.match(name) or len(name) > 64:
            raise Unprocessable(
                f"Parameter name {name[:64]!r} must be a letter or '_' followed by letters, digits or '_' "
                "(at most 64)",
                details={"field": f"{field}.{name[:64]}"},
            )


def _check_size(variations: int, repeats: int) -> None:
    total = variations * repeats
    if total > MAX_TASKS:
        raise Unprocessable(
            f"A sweep has at most {MAX_TASKS} tasks; this one would have {total} "
            f"({variations} variations x {repeats} repeats)",
            details={"field": "repeats", "tasks": total, "limit": MAX_TASKS},
        )


def check_model_parameters(model_id: str, base_inputs: Mapping[str, Any], expansion: Expansion) -> None:
    """422 unless the model reads every swept parameter and every variation's inputs are valid for it."""
    spec = get_model(model_id)
    assert spec is not None, "the template's references are checked first"
    reads = spec.input_names()  # the catalog's one list: what /v1/models and /api/models show
    for name in expansion.parameters:
        if name not in reads:
            raise Unprocessable(
                f"Model '{model_id}' does not read parameter '{name}'",
                details={"field": f"parameters.{name}", "reads": reads},
            )
    seen: set[tuple[str, str]] = set()
    for index, variation in enumerate(expansion.variations):
        for name, value in variation.items():
            # A grid repeats each value many times; validate each (parameter, value) once.
            key = (name, json.dumps(value))
            if key in seen:
                continue
            seen.add(key)
            problems = validate_inputs(model_id, {**base_inputs, name: value})
            if problems:
                field, problem = next(iter(problems.items()))
                raise Unprocessable(
                    f"Variation {index}: invalid input '{field}': {problem}",
                    details={"field": f"inputs.{field}", "variation_index": index, "errors": problems},
                )


@dataclass(frozen=True)
class CommandTemplate:
    """Where a command's swept values go: the placeholders of its args and env values."""

    args: list[str]
    env: dict[str, str]

    @classmethod
    def of(cls, task: TaskCreate, expansion: Expansion) -> CommandTemplate:
        """The template of ``task``; 422 for a placeholder naming no parameter or an unused parameter."""
        args = task_args(task)
        env = task.env.model_dump(mode="json") if task.env else {}
        used: set[str] = set()
        for field, text in [
            *((f"args.{i}", a) for i, a in enumerate(args)),
            *(("env." + k, v) for k, v in env.items()),
        ]:
            for name in placeholders(text):
                if name not in expansion.parameters:
                    raise Unprocessable(
                        f"Placeholder '{{{name[:64]}}}' in task.{field} names no swept parameter "
                        "(write '{{' and '}}' for literal braces)",
                        details={"field": f"task.{field}", "parameters": expansion.parameters},
                    )
                used.add(name)
        unused = [name for name in expansion.parameters if name not in used]
        if unused:
            raise Unprocessable(
                f"Parameter '{unused[0]}' is used by no '{{{unused[0]}}}' placeholder in task.args or task.env",
                details={"field": f"parameters.{unused[0]}"},
            )
        return cls(args, env)

    def apply(self, index: int, variation: Variation) -> tuple[list[str], dict[str, str]]:
        """The args and env of one variation; 422 when a value is missing or a result is too long."""
        values = {name: render_value(value) for name, value in variation.items()}
        try:
            args = [render(arg, values) for arg in self.args]
            env = {name: render(text, values) for name, text in self.env.items()}
        except KeyError as exc:
            raise Unprocessable(
                f"Variation {index} gives no value for parameter '{exc.args[0]}'",
                details={"field": f"variations.{index}", "variation_index": index},
            ) from None
        if any(len(text) > MAX_TEXT for text in [*args, *env.values()]):
            raise Unprocessable(
                f"Variation {index} makes an argument or environment value longer than {MAX_TEXT}",
                details={"field": f"variations.{index}", "variation_index": index},
            )
        return args, env


# --- what the API answers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """A sweep's tasks by status and its overall progress (percent)."""

    counts: dict[str, int]
    progress: float
    finished: bool


@dataclass(frozen=True)
class BestTrial:
    task_id: str
    metric: str
    goal: str
    value: float
    variation_index: int
    trial: int
    variation: Variation


@dataclass(frozen=True)
class SweepView:
    row: SweepRow
    progress: Progress
    best: BestTrial | None


def best_trial(tasks: Sequence[SweepTaskView], metric: str, goal: str) -> BestTrial | None:
    """The completed task with the lowest (``min``) or highest (``max``) ``metric`` in its summary; ties go
    to the earlier variation, then trial. None when no completed task has that metric."""
    best: SweepTaskView | None = None
    best_value = 0.0
    for task in tasks:
        if task.status != TaskStatus.completed or not task.summary:
            continue
        # Held to the table's bounds (`summary_metrics`): a text, NaN or huge number is no metric value.
        value = metric_value(task.summary.get(metric)) if len(metric) <= MAX_METRIC_NAME else None
        if value is None:
            continue
        if best is None or (value < best_value if goal == "min" else value > best_value):
            best, best_value = task, float(value)
    if best is None:
        return None
    return BestTrial(
        best.id, metric, goal, best_value, best.variation_index, best.trial, shown_variation(best)
    )


def progress_of(task_count: int, counts: Mapping[str, int], active_progress: float) -> Progress:
    """Finished tasks count whole (100 %), active ones by their own progress, queued ones as 0."""
    every = {str(status): int(counts.get(status, 0)) for status in STATUSES}
    done = sum(every[status] for status in TERMINAL)
    percent = (done * 100.0 + active_progress) / task_count if task_count else 100.0
    return Progress(every, round(min(max(percent, 0.0), 100.0), 2), done >= task_count)


class SweepManager:
    """The sweep rules; tenancy as for tasks: another user's sweep is reported as not found."""

    def __init__(self, store: SweepStore, tasks: TaskManager) -> None:
        self.store = store
        self.tasks = tasks

    async def submit(
        self, principal: Principal, request: SweepRequest, *, idempotency_key: str | None = None
    ) -> SweepRow:
        """Checks the whole sweep, then stores it and its tasks in one transaction.

        Raises Unprocessable (422) for a sweep that cannot run as asked, Conflict (409) when the
        Idempotency-Key was used with another body; a repeat of the same body returns the first sweep.
        """
        if idempotency_key is not None:
            replay = await self._replay(principal, idempotency_key, request.fingerprint)
            if replay is not None:
                return replay
        expansion = expand(request)
        await self.tasks.check_references(principal, request.task)
        sweep, tasks = self._plan(principal, request, expansion, idempotency_key)
        try:
            await self.store.insert(sweep, tasks)
        except SweepClash:
            assert idempotency_key is not None
            replay = await self._replay(principal, idempotency_key, request.fingerprint)
            if replay is None:
                raise
            return replay
        return sweep

    def _plan(
        self,
        principal: Principal,
        request: SweepRequest,
        expansion: Expansion,
        idempotency_key: str | None,
    ) -> tuple[SweepRow, list[dict[str, Any]]]:
        task = request.task
        template = task_columns(new_task_row(principal.user_id, task))
        command: CommandTemplate | None = None
        if task.model_id is not None:
            base_inputs = dict(template["inputs"])
            check_model_parameters(task.model_id.root, base_inputs, expansion)
        else:
            base_inputs = {}
            command = CommandTemplate.of(task, expansion)
        if request.random_seed is not None:
            base_seed = request.random_seed
        elif task.random_seed is not None:
            base_seed = task.random_seed
        else:
            base_seed = secrets.randbelow(2**32)
        now = template["created_at"]
        # The sweep shows its template's texts as its tasks' views do: their secret values redacted (the
        # sweep keeps no values to redact by later, so this copy is redacted now).
        hidden = SecretValues(str(value) for value in (template.get("secrets") or {}).values())
        for name in expansion.parameters:
            # The sweep lists its parameters' names as given; a name may not carry a secret value.
            if hidden.redact(name) != name:
                raise Unprocessable(
                    "A swept parameter's name contains one of the task's secret values",
                    details={"field": "parameters"},
                )
        sweep = SweepRow(
            id=uuid.uuid4().hex,
            user_id=principal.user_id,
            name=hidden.redact(request.name or task.job_name)[:128],
            job_name=hidden.redact(task.job_name)[:64],
            model_id=task.model_id.root if task.model_id else None,
            parameters=expansion.parameters,
            variation_count=len(expansion.variations),
            repeats=request.repeats,
            random_seed=base_seed,
            task_count=len(expansion.variations) * request.repeats,
            idempotency_key=idempotency_key,
            request_hash=request.fingerprint if idempotency_key else None,
            created_at=now,
            cancelled_at=None,
        )
        planned: list[tuple[int, dict[str, Any], Any, Any, dict[str, Any]]] = []
        for index, variation in enumerate(expansion.variations):
            if command is not None:
                args, env = command.apply(index, variation)
                inputs: dict[str, Any] = {}
            else:
                args, env = template["args"], template["env"]
                inputs = {**base_inputs, **variation}
            planned.append((index, variation, args, env, inputs))
        rows: list[dict[str, Any]] = []
        # Trial-major: every variation's first trial is queued before any second one, so a sweep that is
        # cut short (cancelled, or still running) has covered its whole grid evenly, and its chart shows
        # every swept value from the first len(variations) tasks on.
        for trial in range(1, request.repeats + 1):
            for index, variation, args, env, inputs in planned:
                # Microsecond steps keep the queue's order (priority, then queued_at) the sweep's order.
                at = now + timedelta(microseconds=len(rows))
                rows.append(
                    {
                        **template,
                        "id": uuid.uuid4().hex,
                        "args": args,
                        "env": env,
                        "inputs": inputs,
                        # A model's `seed` input is its run's seed (runplane.catalog.input_seed).
                        "random_seed": derive_seed(base_seed, index, trial)
                        if (seed := input_seed(inputs)) is None
                        else seed,
                        "created_at": at,
                        "updated_at": at,
                        "queued_at": at,
                        "sweep_id": sweep.id,
                        "trial": trial,
                        "variation_index": index,
                        "variation": variation,
                        "result_summary": None,
                    }
                )
        return sweep, rows

    async def _replay(self, principal: Principal, key: str, fingerprint: str) -> SweepRow | None:
        row = await self.store.by_idempotency_key(principal.user_id, key)
        if row is None:
            return None
        if row.request_hash != fingerprint:
            raise Conflict(
                "This Idempotency-Key was used with a different request body",
                details={"idempotency_key": key, "sweep_id": row.id},
            )
        return row

    async def visible(self, principal: Principal, sweep_id: str) -> SweepRow:
        row = await self.store.get(sweep_id)
        if row is None or (not principal.is_admin and row.user_id != principal.user_id):
            raise NotFound("Sweep not found", details={"sweep_id": sweep_id})
        return row

    async def view(
        self, principal: Principal, sweep_id: str, *, metric: str | None = None, goal: str = "min"
    ) -> SweepView:
        """The sweep with its progress, and with ``metric`` its best trial by ``goal`` (min or max)."""
        row = await self.visible(principal, sweep_id)
        progress = (await self._progress([row]))[row.id]
        best = None
        if metric is not None:
            best = best_trial(await self.store.tasks_of(row.id, completed_only=True), metric, goal)
        return SweepView(row, progress, best)

    async def page(self, principal: Principal, *, limit: int, offset: int) -> tuple[list[SweepView], int]:
        rows, total = await self.store.page(
            user_id=None if principal.is_admin else principal.user_id, limit=limit, offset=offset
        )
        progress = await self._progress(rows)
        return [SweepView(row, progress[row.id], None) for row in rows], total

    async def _progress(self, rows: Sequence[SweepRow]) -> dict[str, Progress]:
        figures = await self.store.status_figures([row.id for row in rows])
        result = {}
        for row in rows:
            counts, active_progress = figures.get(row.id, ({}, 0.0))
            result[row.id] = progress_of(row.task_count, counts, active_progress)
        return result

    async def results(self, principal: Principal, sweep_id: str) -> tuple[SweepRow, ResultsTable]:
        """The sweep and its results table (`results_table`): one row per task, in variation then trial
        order."""
        row = await self.visible(principal, sweep_id)
        return row, results_table(await self.store.tasks_of(row.id, completed_only=False))

    async def cancel(self, principal: Principal, sweep_id: str) -> tuple[int, int]:
        """Cancels every unfinished task: (queued tasks cancelled at once, started tasks asked to stop)."""
        row = await self.visible(principal, sweep_id)
        return await self.store.cancel_unfinished(row.id, cancelled_by=principal.user_id)


def task_columns(row: TaskRow) -> dict[str, Any]:
    """A task row as the column name → value mapping a Core insert into ``tasks`` takes.

    An unset attribute gets its column's Python-side default, as an ORM flush would give it, and is left out
    when the database supplies the default, so a column added to ``tasks`` later needs nothing here.
    """
    columns: dict[str, Any] = {}
    for attr in TaskRow.__mapper__.column_attrs:
        column = attr.columns[0]
        value = getattr(row, attr.key)
        if value is None and column.default is not None and column.default.is_scalar:
            value = column.default.arg
        if value is None and column.server_default is not None:
            continue
        columns[column.name] = value
    return columns


async def record_summaries(
    store: SweepStore, artifacts: ArtifactManager, rows: Sequence[TaskRow], *, path: str, max_bytes: int
) -> None:
    """Keeps the numbers of each completed sweep task's results summary (artifact ``path`` of the attempt
    that completed, at most ``max_bytes``) on its row, for the sweep's table and best trial: read once
    when the task ends rather than one results.json per task on every read. Tasks that end together (the
    ends one claim carries) cost one artifact query, one thread reading the files and one UPDATE. A task
    that wrote no valid results file keeps none; rows that are not completed sweep tasks are skipped."""
    attempts = {
        row.id: row.retry_count + 1
        for row in rows
        if row.sweep_id is not None and row.status == TaskStatus.completed
    }
    if not attempts:
        return
    found = await artifacts.read_many(attempts, path, max_bytes=max_bytes)
    if found:
        await store.set_summaries(await anyio.to_thread.run_sync(_summaries, found))


def _summaries(documents: Mapping[str, bytes]) -> dict[str, dict[str, Any]]:
    """The summary metrics (`summary_metrics`) of each results document that has a ``summary`` object."""
    found: dict[str, dict[str, Any]] = {}
    for task_id, data in documents.items():
        document = _loads(data)
        summary = document.get("summary") if isinstance(document, dict) else None
        if isinstance(summary, dict):
            found[task_id] = summary_metrics(summary)
    return found


def _loads(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return None
