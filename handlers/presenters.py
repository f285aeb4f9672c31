"""Turning stored rows into the contract's models (from generated/), secrets redacted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from generated import models
from runplane import lifecycle, retries
from runplane.gang import Claimed, Rank
from runplane.plugins import definitions as plugin_definitions
from runplane.plugins.manager import PluginLaunch
from runplane.redaction import SecretValues
from runplane.store.gangs import PartView
from runplane.store.tables import ApiKeyRow, ArtifactRow, ExperimentRow, SnapshotRow, TaskRow, WorkerRow
from runplane.tasks import TaskManager
from runplane.workers import HeartbeatAnswer, WorkerView

# `number` fields that clients written against fetch_ml's contract parse as integers (it types memory as
# whole GiB): a whole value is written as one (`4`, not `4.0`); a fraction stays a fraction.
INTEGRAL_WHEN_WHOLE = frozenset({"memory_gb"})


def _whole_numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: int(item)
            if key in INTEGRAL_WHEN_WHOLE and isinstance(item, float) and item.is_integer()
            else _whole_numbers(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    return value


def dump(model: Any) -> dict[str, Any]:
    """The JSON body of a response model: optional fields without a value are omitted, never `null`.

    One shape for every answer, the live events and run.json (aiperf's `exclude_none` rule, which
    fetch_ml's clients rely on: its contract types such fields as plain strings). Optional fields left
    unset, such as a plugin config's `mode`, are omitted too. Whole values of `INTEGRAL_WHEN_WHOLE`
    fields are written as integers.
    """
    result: dict[str, Any] = _whole_numbers(
        model.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    )
    return result


def failure(row: TaskRow) -> models.TaskFailure | None:
    if row.failure_reason is None:
        return None
    return models.TaskFailure(
        reason=models.FailureReason(row.failure_reason),
        message=_secret_values(row).redact(row.failure_message or row.failure_reason),
        exit_code=row.exit_code,
        cancelled_by=row.cancelled_by,
    )


def _secret_values(row: TaskRow) -> SecretValues:
    # A task's plugin secrets reach it as secret env (runplane.plugins): hidden like its own secrets.
    plugin_secrets = plugin_definitions.secret_values(row.plugin_configs or {})
    return SecretValues([*(str(value) for value in (row.secrets or {}).values()), *plugin_secrets])


def plugin_configs(row: TaskRow, configs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The task's plugin configurations (`configs`, default the stored ones) without secret values (their
    names in `secret_names`)."""
    return {
        name: plugin_definitions.public_config(name, config)
        for name, config in ((row.plugin_configs if configs is None else configs) or {}).items()
    }


def _message(row: TaskRow, hidden: SecretValues | None = None) -> str | None:
    # Progress messages come from what the task printed: its secrets are hidden there as in its log.
    return (hidden or _secret_values(row)).redact(row.message) if row.message else row.message


def node_assignments(parts: Sequence[PartView]) -> list[dict[str, Any]] | None:
    """A multi-node task's parts, rank 0 first (None when it has none: single-node, or queued)."""
    if not parts:
        return None
    return [
        {
            "rank": view.part.rank,
            "node_id": view.part.rank,
            "worker_id": view.part.worker_id,
            "worker_name": view.worker_name,
            "address": view.address,
            "slot_assigned": True,
            "status": view.part.status,
            "exit_code": view.part.exit_code,
            "failure_reason": view.part.failure_reason,
            "message": view.part.message,
        }
        for view in parts
    ]


def task(row: TaskRow, manager: TaskManager, parts: Sequence[PartView] = ()) -> models.Task:
    hidden = _secret_values(row)
    shown = lifecycle.shown_command(row)  # its redacted view, once its secret values were erased
    # Every other user-given text too: a secret value pasted into metadata is hidden as in args.
    fields = lifecycle.shown_fields(row, hidden)
    return models.Task.model_validate(
        {
            "id": row.id,
            "job_name": fields["job_name"],
            "status": row.status,
            "priority": row.priority,
            "priority_aged": manager.priority_aged(row),
            "user_id": row.user_id,
            "entrypoint": hidden.command(shown[0]) if shown[0] is not None else None,
            "args": hidden.args(shown[1]),
            "model_id": row.model_id,
            "inputs": fields["inputs"],
            "snapshot_id": row.snapshot_id,
            "datasets": fields["datasets"],
            "dataset_specs": fields["dataset_specs"],
            "cpu": row.cpu,
            "memory_gb": row.memory_gb,
            "gpu": row.gpu,
            "gpu_type": fields["gpu_type"],
            "node_count": row.node_count,
            "reservation_id": row.reservation_id,
            "plugin_configs": plugin_configs(row, fields["plugin_configs"]),
            "plugin_status": row.plugin_status or None,
            "max_retries": row.max_retries,
            "retry_count": row.retry_count,
            "attempt": row.retry_count + 1,
            "retry_on": row.retry_on,
            "retry_on_exit_codes": row.retry_on_exit_codes,
            "retry_backoff_seconds": row.retry_backoff_seconds,
            "not_before": row.not_before,
            "attempts": [
                {**attempt, "failure_message": hidden.redact(attempt["failure_message"])}
                if attempt.get("failure_message")
                else attempt
                for attempt in retries.all_attempts(row)
            ],
            "timeout_seconds": row.timeout_seconds,
            "env": hidden.env(shown[2]),
            "secret_names": sorted(row.secret_names or row.secrets),
            "metadata": fields["metadata"],
            "experiment_id": row.experiment_id,
            "sweep_id": row.sweep_id,
            "trial": row.trial if row.sweep_id is not None else None,
            "variation_index": row.variation_index,
            "variation_values": fields["variation"],
            "run_label": fields["run_label"],
            "random_seed": row.random_seed,
            "progress": row.progress,
            "message": _message(row, hidden),
            "failure": failure(row),
            "worker_id": row.worker_id,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "started_at": row.started_at,
            "ended_at": row.ended_at,
            "node_assignments": node_assignments(parts),
        }
    )


def task_list(
    rows: Sequence[TaskRow], total: int, limit: int, offset: int, manager: TaskManager
) -> models.TaskList:
    return models.TaskList(
        tasks=[task(row, manager) for row in rows], total=total, limit=limit, offset=offset
    )


def task_status(row: TaskRow, parts: Sequence[PartView] = ()) -> models.TaskStatusReport:
    return models.TaskStatusReport.model_validate(
        {
            "task_id": row.id,
            "status": row.status,
            "progress": row.progress,
            "message": _message(row),
            "failure": failure(row),
            "started_at": row.started_at,
            "updated_at": row.updated_at,
            "ended_at": row.ended_at,
            "node_assignments": node_assignments(parts),
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


def snapshot(row: SnapshotRow) -> models.Snapshot:
    return models.Snapshot.model_validate(
        {
            "id": row.id,
            "user_id": row.user_id,
            "size": row.size,
            "sha256": row.sha256,
            "created_at": row.created_at,
        }
    )


def artifact(row: ArtifactRow) -> models.Artifact:
    return models.Artifact.model_validate(
        {
            "path": row.path,
            "size": row.size,
            "sha256": row.sha256,
            "content_type": row.content_type,
            "created_at": row.created_at,
        }
    )


def artifact_list(task_id: str, rows: Sequence[ArtifactRow]) -> models.ArtifactList:
    return models.ArtifactList.model_validate(
        {"task_id": task_id, "artifacts": [artifact(row) for row in rows], "total": len(rows)}
    )


def worker(view: WorkerView) -> models.Worker:
    row = view.row
    names = list(dict.fromkeys(str(gpu.get("name", "")) for gpu in row.gpus if gpu.get("name")))
    gpu_type = ", ".join(names)[:128] if names else None
    return models.Worker.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "hostname": row.hostname,
            "address": row.address or row.hostname,
            "status": row.status,
            "version": row.version,
            "capabilities": {"cpu_cores": row.cpu_cores, "memory_gb": row.memory_gb, "gpus": row.gpus},
            "gpu_count": len(row.gpus),
            "gpu_type": gpu_type,
            "slots": {"total": row.slots, "available": max(row.slots - view.busy_slots, 0)},
            "active_tasks": view.active_task_ids,
            "connected_at": row.connected_at,
            "last_heartbeat": row.last_heartbeat,
            "lease_expires_at": row.lease_expires_at,
            "replaced_by": view.replaced_by,
        }
    )


def worker_list(views: Sequence[WorkerView], total: int, limit: int, offset: int) -> models.WorkerList:
    return models.WorkerList(
        workers=[worker(view) for view in views], total=total, limit=limit, offset=offset
    )


def worker_lease(row: WorkerRow, lease_seconds: float, heartbeat_seconds: float) -> models.WorkerLease:
    return models.WorkerLease.model_validate(
        {
            "worker_id": row.id,
            "lease_seconds": lease_seconds,
            "heartbeat_seconds": heartbeat_seconds,
            "lease_expires_at": row.lease_expires_at,
        }
    )


def heartbeat_reply(answer: HeartbeatAnswer) -> models.HeartbeatReply:
    return models.HeartbeatReply.model_validate(
        {
            "status": answer.status,
            "lease_expires_at": answer.lease_expires_at,
            "cancel_task_ids": answer.cancel_task_ids,
        }
    )


def task_assignment(
    row: TaskRow, launch: PluginLaunch | None = None, rank: Rank | None = None
) -> models.TaskAssignment:
    """What a worker needs to run the task: secrets included (only worker keys ever see this).

    `launch` is what its tracking plugins add (runplane.plugins.manager.PluginManager.prepare): their
    variables over the task's own `env`, their secrets beside its `secrets`, and `output_env`. With
    `rank`, the part of a multi-node task: its rank, the world size and the rendezvous address.
    """
    launch = launch or PluginLaunch()
    gang: dict[str, Any] = {}
    if rank is not None:
        gang = {
            "rank": rank.rank,
            "world_size": rank.world_size,
            "master_addr": row.master_addr,
            "master_port": row.master_port,
        }
    return models.TaskAssignment.model_validate(
        {
            **gang,
            "task_id": row.id,
            "attempt": row.retry_count + 1,
            "job_name": row.job_name,
            "entrypoint": row.entrypoint,
            "args": row.args,
            "model_id": row.model_id,
            "inputs": row.inputs,
            "snapshot_id": row.snapshot_id,
            "dataset_specs": row.dataset_specs,
            "cpu": row.cpu,
            "memory_gb": row.memory_gb,
            "gpu": row.gpu,
            "gpu_type": row.gpu_type,
            "timeout_seconds": row.timeout_seconds,
            "env": {**row.env, **launch.env},
            "secrets": {**row.secrets, **launch.secrets},
            "output_env": launch.output_env or None,
            "random_seed": row.random_seed,
            "kind": row.kind,
        }
    )


def claim_result(
    rows: Sequence[Claimed], *, listed: bool, launches: Sequence[PluginLaunch] | None = None
) -> models.ClaimResult:
    """The claim's answer: the first assignment (absent when none), and all of them in `assignments` when `listed`.

    Only claims that name `max_tasks` get the list: older agents, which never send it, parse answers
    strictly and would refuse a field they do not know.
    """
    plugins = list(launches) if launches is not None else [PluginLaunch() for _ in rows]
    assignments = [
        task_assignment(claimed.task, launch, claimed.rank)
        for claimed, launch in zip(rows, plugins, strict=True)
    ]
    first = assignments[0] if assignments else None
    if not listed:
        return models.ClaimResult(assignment=first)
    return models.ClaimResult(assignment=first, assignments=assignments)


def task_report_reply(row: TaskRow) -> models.TaskReportReply:
    return models.TaskReportReply.model_validate(
        {"status": row.status, "progress": row.progress, "cancel_requested": row.cancel_requested}
    )


def scheduler_status(workers: dict[str, int], tasks: dict[str, int], now: datetime) -> models.SchedulerStatus:
    return models.SchedulerStatus.model_validate(
        {
            "workers_total": sum(workers.values()),
            "workers_active": workers["active"],
            "workers_draining": workers["draining"],
            "workers_offline": workers["offline"],
            "batch_queue_depth": tasks["queued"],
            "tasks_running": tasks["preparing"] + tasks["running"] + tasks["collecting"],
            "tasks_completed_24h": tasks["completed"],
            "tasks_failed_24h": tasks["failed"],
            "timestamp": now,
        }
    )
