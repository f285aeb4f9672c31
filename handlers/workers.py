"""Operations of the Workers tag: what worker agents call (worker keys only, declared in the contract)."""

from __future__ import annotations

from typing import Any

import connexion

from generated import models
from handlers import presenters
from handlers.context import principal, services
from runplane.errors import describe
from runplane.tracing import current_trace_id
from runplane.workers import CarriedReport

Answer = tuple[dict[str, Any], int]


async def register_worker(body: dict[str, Any], token_info: dict[str, Any]) -> Answer:
    found = services()
    row = await found.workers.register(principal(token_info), models.WorkerRegistration.model_validate(body))
    lease = presenters.worker_lease(row, found.settings.lease_seconds, found.settings.heartbeat_seconds)
    return presenters.dump(lease), 201


async def heartbeat_worker(worker_id: str, body: dict[str, Any], token_info: dict[str, Any]) -> Answer:
    heartbeat = models.Heartbeat.model_validate(body)
    held = [task_id.root for task_id in heartbeat.running_task_ids]
    answer = await services().workers.heartbeat(principal(token_info), worker_id, held)
    return presenters.dump(presenters.heartbeat_reply(answer)), 200


async def claim_task(worker_id: str, body: dict[str, Any], token_info: dict[str, Any]) -> Answer:
    request = models.ClaimRequest.model_validate(body)
    found = services()
    carried, rows = await found.workers.claim_with_reports(
        principal(token_info), worker_id, request, gone=connexion.request.is_disconnected
    )
    listed = "max_tasks" in request.model_fields_set
    # The tracking plugins set up each claimed task (an MLflow run, env, status) before it is handed out.
    launches = await found.plugins.prepare_all([claimed.task for claimed in rows])
    result = presenters.claim_result(rows, listed=listed, launches=launches)
    if request.reports is not None:
        # Only a claim that named `reports` gets them back (older agents parse this answer strictly).
        result.reports = [_carried_result(outcome) for outcome in carried]
    return presenters.dump(result), 200


def _carried_result(outcome: CarriedReport) -> models.ClaimReportResult:
    """One carried report's answer: what the report operation would have answered (reply or error body)."""
    task_id = models.ResourceId(outcome.task_id)
    if outcome.row is not None:
        return models.ClaimReportResult(
            task_id=task_id, status=200, task=presenters.task_report_reply(outcome.row)
        )
    assert outcome.error is not None
    error = describe(outcome.error)
    return models.ClaimReportResult(
        task_id=task_id,
        status=error.status,
        error=models.ErrorResponse.model_validate(error.payload(current_trace_id.get())),
    )


async def report_task(
    worker_id: str, task_id: str, body: dict[str, Any], token_info: dict[str, Any]
) -> Answer:
    report = models.TaskReport.model_validate(body)
    row = await services().workers.report(principal(token_info), worker_id, task_id, report)
    return presenters.dump(presenters.task_report_reply(row)), 200
