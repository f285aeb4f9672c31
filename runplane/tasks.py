"""The task rules: submission, visibility, cancellation, priority and queue figures.

Handlers call this; this calls the store. Tenancy lives here: a user acts only on its own tasks, and
another user's task is reported as not found, so ids of others' work leak nothing.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from secrets import token_urlsafe
from typing import TYPE_CHECKING, Any

from runplane import retries
from runplane.catalog import get_model, input_seed, validate_inputs
from runplane.entrypoints import entrypoint_script, entrypoint_words
from runplane.errors import Conflict, Forbidden, NotFound, Unprocessable, ValidationFailed
from runplane.lifecycle import ALL, RETRYABLE, TERMINAL, TaskStatus, restored_texts
from runplane.plugins.definitions import check_task_configs, move_task_secrets
from runplane.security import Principal
from runplane.store.tables import TaskRow, utcnow
from runplane.store.tasks import IdempotencyClash, TaskStore
from runplane.validation import invalid_environment_names
from runplane.workdir import dataset_name_problem, mount_path_problem

if TYPE_CHECKING:
    from generated.models import TaskCreate
    from runplane.experiments import ExperimentManager
    from runplane.reservations import ReservationManager
    from runplane.snapshots import SnapshotManager


@dataclass(frozen=True)
class AgingPolicy:
    """Waiting raises a queued task's effective priority by `rate` points a minute, up to `max_boost`."""

    rate_per_minute: float
    max_boost: float

    def effective(self, priority: int, queued_at: datetime, now: datetime) -> float:
        waited_minutes = max((now - queued_at).total_seconds(), 0.0) / 60.0
        return priority + min(self.rate_per_minute * waited_minutes, self.max_boost)


def request_fingerprint(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


MAX_ARGS = 256
MAX_ARG_CHARS = 4096


def task_args(request: TaskCreate) -> list[str]:
    """The task's argument list: `args` as given, or its string split as a POSIX shell would (shlex).

    fetch_ml's clients send `args` as one string; the contract accepts both forms and the task shows the
    list. Raises Unprocessable (field `args`) for a string shlex cannot split (an unclosed quote or a
    trailing escape), more than MAX_ARGS arguments or one longer than MAX_ARG_CHARS.
    """
    if request.args is None:
        return []
    if isinstance(request.args.root, str):
        try:
            args = shlex.split(request.args.root, comments=False, posix=True)
        except ValueError as exc:  # shlex: "No closing quotation", "No escaped character"
            raise Unprocessable(
                f"'args' does not split as a shell would: {exc}", details={"field": "args"}
            ) from None
    else:
        args = [arg.root for arg in request.args.root]
    if len(args) > MAX_ARGS:
        raise Unprocessable(
            f"'args' has {len(args)} arguments; at most {MAX_ARGS} are allowed", details={"field": "args"}
        )
    for index, arg in enumerate(args):
        if len(arg) > MAX_ARG_CHARS:
            raise Unprocessable(
                f"argument {index} of 'args' is longer than {MAX_ARG_CHARS} characters",
                details={"field": "args"},
            )
    return args


def _random_seed(request: TaskCreate) -> int | None:
    """The task's ``random_seed``; a catalog model's ``seed`` input is it (`runplane.catalog.input_seed`)."""
    if request.random_seed is None and request.model_id is not None and request.inputs is not None:
        return input_seed(request.inputs.root)
    return request.random_seed


def new_task_row(user_id: str, request: TaskCreate) -> TaskRow:
    """A queued task as submitted: the one place a TaskCreate becomes a stored row.

    Secret settings in `plugin_configs` become the task's secrets (`move_task_secrets`).
    """
    now = utcnow()
    plugin_configs, plugin_secrets = move_task_secrets(
        {
            name: config.model_dump(mode="json", exclude_none=True)
            for name, config in (request.plugin_configs or {}).items()
        }
    )
    secrets = {**(request.secrets or {}), **plugin_secrets}
    return TaskRow(
        id=uuid.uuid4().hex,
        job_name=request.job_name,
        user_id=user_id,
        status=TaskStatus.queued,
        priority=request.priority,
        entrypoint=request.entrypoint,
        args=task_args(request),
        model_id=request.model_id.root if request.model_id else None,
        inputs=request.inputs.root if request.inputs else {},
        snapshot_id=request.snapshot_id.root if request.snapshot_id else None,
        datasets=[name.root for name in request.datasets or []],
        dataset_specs=[
            spec.model_dump(mode="json", exclude_none=True) for spec in request.dataset_specs or []
        ],
        cpu=request.cpu,
        memory_gb=request.memory_gb,
        gpu=request.gpu,
        gpu_type=request.gpu_type,
        node_count=request.node_count,
        reservation_id=request.reservation_id.root if request.reservation_id else None,
        plugin_configs=plugin_configs,
        max_retries=request.max_retries,
        retry_count=0,
        retry_on=list(dict.fromkeys(reason.value for reason in request.retry_on))
        if request.retry_on is not None
        else list(retries.DEFAULT_RETRY_ON),
        retry_on_exit_codes=sorted({code.root for code in request.retry_on_exit_codes}),
        retry_backoff_seconds=request.retry_backoff_seconds,
        not_before=None,
        attempts=[],
        timeout_seconds=request.timeout_seconds,
        env=request.env.model_dump(mode="json") if request.env else {},
        secrets=secrets,
        secret_names=sorted(secrets),
        redacted_view=None,
        metadata_=request.metadata.model_dump(mode="json") if request.metadata else {},
        experiment_id=request.experiment_id.root if request.experiment_id else None,
        run_label=request.run_label,
        random_seed=_random_seed(request),
        progress=0.0,
        message="Queued",
        failure_reason=None,
        failure_message=None,
        exit_code=None,
        cancelled_by=None,
        cancel_requested=False,
        worker_id=None,
        created_at=now,
        updated_at=now,
        queued_at=now,
        started_at=None,
        ended_at=None,
    )


def check_runnable(request: TaskCreate) -> None:
    """Refuses at submit what no worker could ever start, rather than failing it later as `internal`.

    NUL characters in any string are refused for every request body before this (runplane.validation);
    here: environment names (`env` and `secrets`) must be POSIX names, since `A=B` or an empty name cannot
    be put into a process environment (a 400 naming the variable); `datasets`, names of datasets the
    server would know, which it does not have, so a non-empty list is a 422 rather than silently ignored;
    and a `gpu_type` without `gpu` of 1 or more (422: it would wait for ever for a GPU it does not use).
    """
    for field, names in (
        ("env", request.env.root if request.env else {}),
        ("secrets", request.secrets or {}),
    ):
        invalid = invalid_environment_names(names)
        if invalid:
            raise ValidationFailed(
                f"'{field}' has a name that is not a valid environment variable name: {invalid[0]!r} "
                "(use letters, digits and '_', not starting with a digit)",
                details={"field": field, "name": invalid[0]},
            )
    # Tracking plugins: known names, known settings a task may set, right types (runplane.plugins).
    configs = {
        name: config.model_dump(mode="json", exclude_none=True)
        for name, config in (request.plugin_configs or {}).items()
    }
    check_task_configs(configs)
    for variable, value in move_task_secrets(configs)[1].items():
        given = (request.secrets or {}).get(variable)
        if given is not None and given != value:
            raise Unprocessable(
                f"'secrets.{variable}' and the plugin setting that becomes {variable} disagree; give it once",
                details={"field": f"secrets.{variable}"},
            )
    if request.entrypoint is not None:
        try:
            entrypoint_words(request.entrypoint)
        except ValueError as exc:
            raise Unprocessable(f"'entrypoint': {exc}", details={"field": "entrypoint"}) from None
    for index, spec in enumerate(request.dataset_specs or []):
        # The worker's own rules (runplane.workdir): it would refuse to place the dataset.
        field, value, problem = "name", spec.name, dataset_name_problem(spec.name)
        if problem is None and spec.mount_path is not None:
            field, value, problem = "mount_path", spec.mount_path, mount_path_problem(spec.mount_path)
        if problem:
            raise Unprocessable(
                f"'dataset_specs.{index}.{field}' {value!r} {problem}",
                details={"field": f"dataset_specs.{index}.{field}"},
            )
    if request.datasets:
        raise Unprocessable(
            "Named datasets are not supported by this server; describe each dataset in 'dataset_specs' "
            "(source and sha256)",
            details={"field": "datasets"},
        )
    if request.gpu_type is not None and request.gpu < 1:
        # It asks for no GPU, so no GPU type can matter: it would wait for ever for a worker of that type.
        raise Unprocessable(
            f"'gpu_type' {request.gpu_type!r} needs 'gpu' of 1 or more (this task asks for {request.gpu})",
            details={"field": "gpu_type"},
        )


class TaskManager:
    def __init__(
        self,
        store: TaskStore,
        experiments: ExperimentManager,
        snapshots: SnapshotManager,
        aging: AgingPolicy,
        reservations: ReservationManager,
    ) -> None:
        self.store = store
        self.experiments = experiments
        self.snapshots = snapshots
        self.aging = aging
        self.reservations = reservations

    def priority_aged(self, row: TaskRow, now: datetime | None = None) -> float:
        if row.status != TaskStatus.queued:
            return float(row.priority)
        return round(self.aging.effective(row.priority, row.queued_at, now or utcnow()), 4)

    async def submit(
        self, principal: Principal, request: TaskCreate, *, idempotency_key: str | None = None
    ) -> TaskRow:
        # The request's fingerprint matters only to an idempotent submission (a second serialisation of
        # the body otherwise, on the API's hottest write).
        fingerprint = (
            request_fingerprint(request.model_dump(mode="json", exclude_unset=True))
            if idempotency_key is not None
            else ""
        )
        if idempotency_key is not None:
            replay = await self._replay(principal, idempotency_key, fingerprint)
            if replay is not None:
                return replay
        await self.check_references(principal, request)
        row = self._new_row(principal, request)
        try:
            await self.store.insert(
                row, idempotency=(idempotency_key, fingerprint) if idempotency_key else None
            )
        except IdempotencyClash:
            # A concurrent request with the same key won the race: answer as a repeat of it.
            assert idempotency_key is not None
            replay = await self._replay(principal, idempotency_key, fingerprint)
            if replay is None:
                raise
            return replay
        return row

    async def _replay(self, principal: Principal, key: str, fingerprint: str) -> TaskRow | None:
        record = await self.store.idempotent(principal.user_id, key)
        if record is None:
            return None
        if record.request_hash != fingerprint:
            raise Conflict(
                "This Idempotency-Key was used with a different request body",
                details={"idempotency_key": key, "task_id": record.task_id},
            )
        row = await self.store.get(record.task_id)
        if row is None:  # the task was removed; the key is free to describe a new one
            return None
        return row

    async def check_references(self, principal: Principal, request: TaskCreate) -> None:
        """422 unless the request names exactly one of entrypoint/model, valid args and model inputs, and an
        experiment and snapshot the principal may use (sweeps check their task template with this too)."""
        check_runnable(request)
        task_args(request)
        if (request.entrypoint is None) == (request.model_id is None):
            raise Unprocessable(
                "Give exactly one of 'entrypoint' or 'model_id'",
                details={"field": "entrypoint" if request.entrypoint is None else "model_id"},
            )
        if request.model_id is not None:
            model_id = request.model_id.root
            if get_model(model_id) is None:
                raise Unprocessable(f"Unknown model '{model_id}'", details={"field": "model_id"})
            if request.node_count > 1:
                # A catalog model is one process; its results would be one rank's among several.
                raise Unprocessable(
                    "A catalog model runs on one node: 'node_count' must be 1 with 'model_id'",
                    details={"field": "node_count"},
                )
            problems = validate_inputs(model_id, request.inputs.root if request.inputs else {})
            if problems:
                field, problem = next(iter(problems.items()))
                raise Unprocessable(
                    f"Invalid input '{field}': {problem}",
                    details={"field": f"inputs.{field}", "errors": problems},
                )
            seed = input_seed(request.inputs.root if request.inputs else {})
            if seed is not None and request.random_seed is not None and seed != request.random_seed:
                raise Unprocessable(
                    f"Input 'seed' ({seed}) is the task's random_seed, which is given as "
                    f"{request.random_seed}: give one, or the same value",
                    details={"field": "inputs.seed"},
                )
        elif request.inputs is not None and request.inputs.root:
            raise Unprocessable(
                "'inputs' belong to a model run (give 'model_id')", details={"field": "inputs"}
            )
        if request.experiment_id is not None:
            try:
                experiment = await self.experiments.visible(principal, request.experiment_id.root)
            except NotFound as exc:
                raise Unprocessable("Unknown experiment", details={"field": "experiment_id"}) from exc
            if experiment.status == "deleted":
                # 422 as for any reference that cannot be used (an ended reservation is the same): the
                # request must name another experiment; nothing the client waits for changes this one.
                raise Unprocessable(
                    f"Experiment {experiment.id} is deleted; it takes no new tasks",
                    details={"field": "experiment_id", "status": experiment.status},
                )
        if request.snapshot_id is not None:
            # Only the snapshot's owner (or an admin) may run it: ids of others' code must not be usable.
            try:
                await self.snapshots.visible(principal, request.snapshot_id.root)
            except NotFound as exc:
                raise Unprocessable("Unknown snapshot", details={"field": "snapshot_id"}) from exc
            await self._check_script_in_snapshot(
                request.entrypoint, task_args(request), request.snapshot_id.root
            )
        await self.reservations.check_task(principal, request)

    async def _check_script_in_snapshot(
        self, entrypoint: str | None, args: list[str], snapshot_id: str
    ) -> None:
        """A script the entrypoint runs from its code (named in the entrypoint or, after an interpreter, in
        `args`) must be in the snapshot, when its file list is known (snapshots stored before the lists
        were kept are checked by the worker: `entrypoint_not_found`)."""
        script = entrypoint_script(entrypoint, args)
        if script is None:
            return
        files = await self.snapshots.file_names(snapshot_id)
        if files is not None and script not in files:
            raise Unprocessable(
                f"The entrypoint runs '{script}', which is not in snapshot {snapshot_id}",
                details={
                    "field": "entrypoint" if entrypoint_script(entrypoint) == script else "args",
                    "script": script,
                    "snapshot_id": snapshot_id,
                },
            )

    def _new_row(self, principal: Principal, request: TaskCreate) -> TaskRow:
        return new_task_row(principal.user_id, request)

    async def visible(self, principal: Principal, task_id: str) -> TaskRow:
        row = await self.store.get(task_id)
        if row is None or (not principal.is_admin and row.user_id != principal.user_id):
            raise NotFound("Task not found", details={"task_id": task_id})
        return row

    async def page(
        self,
        principal: Principal,
        *,
        status: str | None,
        user_id: str | None,
        experiment_id: str | None,
        model_id: str | None,
        limit: int,
        offset: int,
        sweep_id: str | None = None,
    ) -> tuple[Sequence[TaskRow], int]:
        if not principal.is_admin:
            if user_id is not None and user_id != principal.user_id:
                raise Forbidden("Only admins may list other users' tasks", details={"field": "user_id"})
            user_id = principal.user_id
        filters = {
            "status": status,
            "user_id": user_id,
            "experiment_id": experiment_id,
            "model_id": model_id,
            "sweep_id": sweep_id,
        }
        return await self.store.page(filters=filters, limit=limit, offset=offset)

    async def cancel(self, principal: Principal, task_id: str) -> bool:
        """Cancels a task: False when it is cancelled at once (it was queued), True when its worker was
        asked to stop it (it ends `cancelled` when the worker reports so). Repeating a cancel of a task
        that is stopping answers True again."""
        for _ in range(3):
            row = await self.visible(principal, task_id)
            if row.status in TERMINAL:
                raise Conflict(f"Task already {row.status}", details={"status": row.status})
            if row.status == TaskStatus.queued:
                if await self.store.cancel_if_queued(task_id, principal.user_id):
                    return False
            elif row.cancel_requested or await self.store.request_cancel_if_active(
                task_id, principal.user_id
            ):
                return True
            # The task moved on between the read and the update (claimed, requeued, ended): look again.
        current = await self.visible(principal, task_id)
        raise Conflict("Task is changing state; try again", details={"status": current.status})

    async def retry(
        self, principal: Principal, task_id: str, secrets: dict[str, str] | None = None
    ) -> TaskRow:
        """Queues a failed or cancelled task again as its next attempt (owner or admin).

        The ended attempt goes into the task's ``attempts``; its logs, artifacts and run identity stay
        readable with ``?attempt=N``. 404 for a task the principal may not see, 409 for a task that is not
        failed or cancelled (or changed state meanwhile) or has used up ``retries.MAX_RETRY_COUNT``.

        A task's secret values were erased when it ended (`lifecycle.erase_secrets`): `secrets` gives them
        again (name → value). 409 naming the missing names when one of its ``secret_names`` has no value;
        422 for a name the task never had. A Jupyter service gets a fresh token instead.
        """
        row = await self.visible(principal, task_id)
        if row.status not in RETRYABLE:
            raise Conflict(
                f"Only a failed or cancelled task can be retried; this one is {row.status}",
                details={"task_id": task_id, "status": row.status},
            )
        if row.retry_count >= retries.MAX_RETRY_COUNT:
            raise Conflict(
                f"The task has been retried {row.retry_count} times, the most allowed",
                details={"task_id": task_id, "retry_count": row.retry_count},
            )
        values_again = self._secrets_again(row, secrets or {})
        now = utcnow()
        ended = retries.current_attempt(row)
        values = retries.requeue_values(
            row,
            ended,
            now=now,
            not_before=None,
            message=f"Retrying after {ended['failure_message'] or row.status}, as asked by {principal.user_id} "
            f"(attempt {row.retry_count + 2})",
        )
        values["secrets"] = values_again
        # The values the user passed literally in the task's texts were marked when it ended: back they go.
        values.update(restored_texts(row, values_again))
        updated = await self.store.requeue_ended(row, values)
        if updated is None:
            current = await self.visible(principal, task_id)
            raise Conflict("Task is changing state; try again", details={"status": current.status})
        return updated

    @staticmethod
    def _secrets_again(row: TaskRow, given: dict[str, str]) -> dict[str, str]:
        """The secret values the retried task runs with: those still stored (none, once it ended) and
        those `given` again. Raises 422 for a name the task never had, 409 naming the missing ones."""
        names = list(row.secret_names or row.secrets or {})
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise Unprocessable(
                f"The task has no secret named {unknown[0]!r}; its secrets are: {', '.join(names) or 'none'}",
                details={"field": "secrets", "name": unknown[0], "secret_names": names},
            )
        if row.kind == "service":
            # A Jupyter service's one secret is its token: the new attempt gets a new one.
            from runplane.jupyter import TOKEN_BYTES, TOKEN_ENV

            return {TOKEN_ENV: token_urlsafe(TOKEN_BYTES)}
        values = {name: str(value) for name, value in (row.secrets or {}).items() if value is not None}
        values.update(given)
        missing = [name for name in names if name not in values]
        if missing:
            raise Conflict(
                "The task's secret values were erased when it ended; give them again in the retry's "
                f"'secrets': missing {', '.join(missing)}",
                details={"task_id": row.id, "missing_secrets": missing},
            )
        return values

    async def set_priority(self, principal: Principal, task_id: str, priority: int) -> TaskRow:
        row = await self.visible(principal, task_id)
        if row.status != TaskStatus.queued or not await self.store.set_priority_if_queued(task_id, priority):
            current = await self.visible(principal, task_id)
            raise Conflict("Only a queued task can change priority", details={"status": current.status})
        return await self.visible(principal, task_id)

    async def queue_counts(self) -> dict[str, int]:
        counts = await self.store.counts_by_status(finished_since=self.store.day_ago())
        names = ALL
        return {str(name): counts.get(name, 0) for name in names}
