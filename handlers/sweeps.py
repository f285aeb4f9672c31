"""Operations of the Sweeps tag, and the shaping of sweeps into the contract's models."""

from __future__ import annotations

from typing import Any

from generated import models
from handlers import presenters
from handlers.context import header, principal, services
from runplane.store.tables import SweepRow
from runplane.sweeps import ResultsTable, SweepRequest, SweepView

Answer = tuple[dict[str, Any], int]


async def create_sweep(body: dict[str, Any], token_info: dict[str, Any]) -> Answer:
    manager = services().sweeps
    caller = principal(token_info)
    row = await manager.submit(
        caller, SweepRequest.from_body(body), idempotency_key=header("Idempotency-Key")
    )
    return presenters.dump(sweep(await manager.view(caller, row.id))), 201


async def list_sweeps(token_info: dict[str, Any], limit: int = 50, offset: int = 0) -> Answer:
    views, total = await services().sweeps.page(principal(token_info), limit=limit, offset=offset)
    listed = models.SweepList(sweeps=[sweep(view) for view in views], total=total, limit=limit, offset=offset)
    return presenters.dump(listed), 200


async def get_sweep(
    sweep_id: str, token_info: dict[str, Any], metric: str | None = None, goal: str = "min"
) -> Answer:
    view = await services().sweeps.view(principal(token_info), sweep_id, metric=metric, goal=goal)
    return presenters.dump(sweep(view)), 200


async def get_sweep_results(sweep_id: str, token_info: dict[str, Any]) -> Answer:
    row, tasks = await services().sweeps.results(principal(token_info), sweep_id)
    return sweep_results(row, tasks), 200


async def cancel_sweep(sweep_id: str, token_info: dict[str, Any]) -> Answer:
    cancelled, stopping = await services().sweeps.cancel(principal(token_info), sweep_id)
    answer = models.SweepCancellation(sweep_id=sweep_id, cancelled=cancelled, stopping=stopping)
    return presenters.dump(answer), 200


def sweep(view: SweepView) -> models.Sweep:
    row, best = view.row, view.best
    return models.Sweep.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "user_id": row.user_id,
            "job_name": row.job_name,
            "model_id": row.model_id,
            "parameters": row.parameters,
            "variation_count": row.variation_count,
            "repeats": row.repeats,
            "random_seed": row.random_seed,
            "task_count": row.task_count,
            "counts": view.progress.counts,
            "progress": view.progress.progress,
            "finished": view.progress.finished,
            "created_at": row.created_at,
            "cancelled_at": row.cancelled_at,
            "best": None
            if best is None
            else {
                "task_id": best.task_id,
                "metric": best.metric,
                "goal": best.goal,
                "value": best.value,
                "variation_index": best.variation_index,
                "trial": best.trial,
                "variation": best.variation,
            },
        }
    )


def sweep_results(row: SweepRow, table: ResultsTable) -> dict[str, Any]:
    """The SweepResults body, built as JSON values directly: validating and dumping 10,000 rows through the
    pydantic model cost more than half of a 10,000-task table's CPU, and every value here already has its
    contract type (`runplane.sweeps.results_table` keeps each row within the contract's bounds)."""
    return {
        "sweep_id": row.id,
        "parameters": list(row.parameters),
        "metrics": table.metrics,
        "metrics_omitted": table.metrics_omitted,
        "rows": [
            {
                "task_id": task_id,
                "status": str(status),
                "variation_index": variation_index,
                "trial": trial,
                "random_seed": random_seed,
                "variation": variation,
                "summary": summary if presenters.INTEGRAL_WHEN_WHOLE.isdisjoint(summary) else _whole(summary),
            }
            for task_id, status, variation_index, trial, random_seed, variation, summary in table.rows
        ],
    }


def _whole(summary: dict[str, Any]) -> dict[str, Any]:
    """A flat summary as `presenters.dump` writes every answer: a whole `INTEGRAL_WHEN_WHOLE` value as an
    integer."""
    return {
        name: int(value)
        if name in presenters.INTEGRAL_WHEN_WHOLE and isinstance(value, float) and value.is_integer()
        else value
        for name, value in summary.items()
    }
