"""Turning stored rows into the contract's models (from generated/), secrets redacted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from generated import models
from runplane.redaction import redact_args, redact_command, redact_env
from runplane.store.tables import ApiKeyRow, ExperimentRow, TaskRow
from runplane.tasks import TaskManager


def dump(model: Any) -> dict[str, Any]:
    result: dict[str, Any] = model.model_dump(mode="json")
    return result


def failure(row: TaskRow) -> models.TaskFailure | None:
    if row.failure_reason is None:
        return None
    return models.TaskFailure(
        reason=models.FailureReason(row.failure_reason),
        message=row.failure_message or row.failure_reason,
        exit_code=row.exit_code,
        cancelled_by=row.cancelled_by,
    )


def task(row: TaskRow, manager: TaskManager) -> models.Task:
    return models.Task.model_validate(
        {
            "id": row.id,
            "job_name": row.job_name,
            "status": row.status,
            "priority": row.priority,
            "priority_aged": manager.priority_aged(row),
            "user_id": row.user_id,
            "entrypoint": redact_command(row.entrypoint) if row.entrypoint is not None else None,
            "args": redact_args(row.args),
            "model_id": row.model_id,
            "inputs": row.inputs,
            "snapshot_id": row.snapshot_id,
            "datasets": row.datasets,
            "dataset_specs": row.dataset_specs,
            "cpu": row.cpu,
            "memory_gb": row.memory_gb,
            "gpu": row.gpu,
            "gpu_type": row.gpu_type,
            "node_count": row.node_count,
            "reservation_id": row.reservation_id,
            "plugin_configs": row.plugin_configs,
            "max_retries": row.max_retries,
            "retry_count": row.retry_count,
            "timeout_seconds": row.timeout_seconds,
            "env": redact_env(row.env),
            "secret_names": sorted(row.secrets),
            "metadata": row.metadata_,
            "experiment_id": row.experiment_id,
            "run_label": row.run_label,
            "random_seed": row.random_seed,
            "progress": row.progress,
            "message": row.message,
            "failure": failure(row),
            "worker_id": row.worker_id,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "started_at": row.started_at,
            "ended_at": row.ended_at,
        }
    )


def task_list(
    rows: Sequence[TaskRow], total: int, limit: int, offset: int, manager: TaskManager
) -> models.TaskList:
    return models.TaskList(
        tasks=[task(row, manager) for row in rows], total=total, limit=limit, offset=offset
    )


def task_status(row: TaskRow) -> models.TaskStatusReport:
    return models.TaskStatusReport.model_validate(
        {
            "task_id": row.id,
            "status": row.status,
            "progress": row.progress,
            "message": row.message,
            "failure": failure(row),
            "started_at": row.started_at,
            "updated_at": row.updated_at,
            "ended_at": row.ended_at,
        }
    )


def api_key(row: ApiKeyRow) -> models.ApiKey:
    return models.ApiKey.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "role": row.role,
            "user_id": row.user_id,
            "prefix": row.prefix,
            "created_at": row.created_at,
            "revoked_at": row.revoked_at,
            "last_used_at": row.last_used_at,
        }
    )


def api_key_created(row: ApiKeyRow, secret: str) -> models.ApiKeyCreated:
    return models.ApiKeyCreated.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "role": row.role,
            "user_id": row.user_id,
            "prefix": row.prefix,
            "created_at": row.created_at,
            "key": secret,
        }
    )


def experiment(row: ExperimentRow, task_count: int) -> models.Experiment:
    return models.Experiment.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "description": row.description,
            "commit_id": row.commit_id,
            "status": row.status,
            "user_id": row.user_id,
            "metadata": row.metadata_,
            "task_count": task_count,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )
