from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.failure_reason import FailureReason
from ..models.task_status import TaskStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.dataset_spec import DatasetSpec
    from ..models.metadata import Metadata
    from ..models.model_inputs import ModelInputs
    from ..models.node_assignment import NodeAssignment
    from ..models.string_map import StringMap
    from ..models.task_attempt import TaskAttempt
    from ..models.task_failure import TaskFailure
    from ..models.task_plugin_configs import TaskPluginConfigs
    from ..models.task_plugin_status import TaskPluginStatus
    from ..models.task_variation_values import TaskVariationValues


T = TypeVar("T", bound="Task")


@_attrs_define
class Task:
    """
    Attributes:
        id (str): An opaque identifier.
        job_name (str):
        status (TaskStatus): queued → preparing → running → collecting → completed | failed | cancelled.
        priority (int):
        priority_aged (float): Effective priority with aging applied.
        user_id (str): The user a key acts for.
        args (list[str]): The arguments, with secret-looking values redacted.
        inputs (ModelInputs): Inputs of a model run: the model's parameters (one of each one's values), `parameter_set`
            (a named
            preset of them; `baseline` is the defaults), `region` and `year` (they select the generated data).
            Each model lists what it reads, and what each input does, in its `inputs`; any other input is a 422.
            Server limit: nested at most 32 levels deep within the request body (see "Request bodies" above).
        datasets (list[str]):
        dataset_specs (list[DatasetSpec]):
        cpu (int):
        memory_gb (float):
        gpu (int):
        node_count (int):
        plugin_configs (TaskPluginConfigs):
        max_retries (int):
        retry_count (int): How often the task was queued again (automatic and manual retries).
        attempt (int): The current attempt (`retry_count` + 1).
        retry_on (list[FailureReason]):
        retry_on_exit_codes (list[int]):
        retry_backoff_seconds (int):
        attempts (list[TaskAttempt]): Every attempt, the first one first, the current one last.
        env (StringMap): Names to string values.
        secret_names (list[str]): The names of the task's secrets; their values are never returned.
        metadata (Metadata): Free-form labels.
        progress (float):
        created_at (datetime.datetime):
        updated_at (datetime.datetime):
        entrypoint (str | Unset): The command, with secret-looking values redacted.
        model_id (str | Unset):
        snapshot_id (str | Unset):
        gpu_type (str | Unset):
        reservation_id (str | Unset):
        plugin_status (TaskPluginStatus | Unset): Each plugin enabled for the task, as set up when a worker claimed it
            (absent before).
        not_before (datetime.datetime | Unset): A retried task waits for its backoff and is not claimed before this
            time.
        timeout_seconds (int | Unset):
        experiment_id (str | Unset):
        sweep_id (str | Unset): The sweep the task belongs to; absent for a task submitted on its own.
        trial (int | Unset): In a sweep, the repeat of its variation (1 to the sweep's `repeats`).
        variation_index (int | Unset): In a sweep, the variation's position (0-based).
        variation_values (TaskVariationValues | Unset): In a sweep, the variation's parameter values (as in the task's
            `inputs` or command).
        run_label (str | Unset):
        random_seed (int | Unset):
        message (str | Unset):
        failure (TaskFailure | Unset): Why a task did not complete; absent while it has not failed.
        worker_id (str | Unset):
        started_at (datetime.datetime | Unset):
        ended_at (datetime.datetime | Unset):
        node_assignments (list[NodeAssignment] | Unset): A multi-node task's parts (`node_count` > 1), rank 0 first:
            which worker runs each rank and how
            that part stands. Absent for a single-node task and while the task is queued.
    """

    id: str
    job_name: str
    status: TaskStatus
    priority: int
    priority_aged: float
    user_id: str
    args: list[str]
    inputs: ModelInputs
    datasets: list[str]
    dataset_specs: list[DatasetSpec]
    cpu: int
    memory_gb: float
    gpu: int
    node_count: int
    plugin_configs: TaskPluginConfigs
    max_retries: int
    retry_count: int
    attempt: int
    retry_on: list[FailureReason]
    retry_on_exit_codes: list[int]
    retry_backoff_seconds: int
    attempts: list[TaskAttempt]
    env: StringMap
    secret_names: list[str]
    metadata: Metadata
    progress: float
    created_at: datetime.datetime
    updated_at: datetime.datetime
    entrypoint: str | Unset = UNSET
    model_id: str | Unset = UNSET
    snapshot_id: str | Unset = UNSET
    gpu_type: str | Unset = UNSET
    reservation_id: str | Unset = UNSET
    plugin_status: TaskPluginStatus | Unset = UNSET
    not_before: datetime.datetime | Unset = UNSET
    timeout_seconds: int | Unset = UNSET
    experiment_id: str | Unset = UNSET
    sweep_id: str | Unset = UNSET
    trial: int | Unset = UNSET
    variation_index: int | Unset = UNSET
    variation_values: TaskVariationValues | Unset = UNSET
    run_label: str | Unset = UNSET
    random_seed: int | Unset = UNSET
    message: str | Unset = UNSET
    failure: TaskFailure | Unset = UNSET
    worker_id: str | Unset = UNSET
    started_at: datetime.datetime | Unset = UNSET
    ended_at: datetime.datetime | Unset = UNSET
    node_assignments: list[NodeAssignment] | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        job_name = self.job_name

        status = self.status.value

        priority = self.priority

        priority_aged = self.priority_aged

        user_id = self.user_id

        args = self.args

        inputs = self.inputs.to_dict()

        datasets = self.datasets

        dataset_specs = []
        for dataset_specs_item_data in self.dataset_specs:
            dataset_specs_item = dataset_specs_item_data.to_dict()
            dataset_specs.append(dataset_specs_item)

        cpu = self.cpu

        memory_gb = self.memory_gb

        gpu = self.gpu

        node_count = self.node_count

        plugin_configs = self.plugin_configs.to_dict()

        max_retries = self.max_retries

        retry_count = self.retry_count

        attempt = self.attempt

        retry_on = []
        for retry_on_item_data in self.retry_on:
            retry_on_item = retry_on_item_data.value
            retry_on.append(retry_on_item)

        retry_on_exit_codes = self.retry_on_exit_codes

        retry_backoff_seconds = self.retry_backoff_seconds

        attempts = []
        for attempts_item_data in self.attempts:
            attempts_item = attempts_item_data.to_dict()
            attempts.append(attempts_item)

        env = self.env.to_dict()

        secret_names = self.secret_names

        metadata = self.metadata.to_dict()

        progress = self.progress

        created_at = self.created_at.isoformat()

        updated_at = self.updated_at.isoformat()

        entrypoint = self.entrypoint

        model_id = self.model_id

        snapshot_id = self.snapshot_id

        gpu_type = self.gpu_type

        reservation_id = self.reservation_id

        plugin_status: dict[str, Any] | Unset = UNSET
        if not isinstance(self.plugin_status, Unset):
            plugin_status = self.plugin_status.to_dict()

        not_before: str | Unset = UNSET
        if not isinstance(self.not_before, Unset):
            not_before = self.not_before.isoformat()

        timeout_seconds = self.timeout_seconds

        experiment_id = self.experiment_id

        sweep_id = self.sweep_id

        trial = self.trial

        variation_index = self.variation_index

        variation_values: dict[str, Any] | Unset = UNSET
        if not isinstance(self.variation_values, Unset):
            variation_values = self.variation_values.to_dict()

        run_label = self.run_label

        random_seed = self.random_seed

        message = self.message

        failure: dict[str, Any] | Unset = UNSET
        if not isinstance(self.failure, Unset):
            failure = self.failure.to_dict()

        worker_id = self.worker_id

        started_at: str | Unset = UNSET
        if not isinstance(self.started_at, Unset):
            started_at = self.started_at.isoformat()

        ended_at: str | Unset = UNSET
        if not isinstance(self.ended_at, Unset):
            ended_at = self.ended_at.isoformat()

        node_assignments: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.node_assignments, Unset):
            node_assignments = []
            for node_assignments_item_data in self.node_assignments:
                node_assignments_item = node_assignments_item_data.to_dict()
                node_assignments.append(node_assignments_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "job_name": job_name,
                "status": status,
                "priority": priority,
                "priority_aged": priority_aged,
                "user_id": user_id,
                "args": args,
                "inputs": inputs,
                "datasets": datasets,
                "dataset_specs": dataset_specs,
                "cpu": cpu,
                "memory_gb": memory_gb,
                "gpu": gpu,
                "node_count": node_count,
                "plugin_configs": plugin_configs,
                "max_retries": max_retries,
                "retry_count": retry_count,
                "attempt": attempt,
                "retry_on": retry_on,
                "retry_on_exit_codes": retry_on_exit_codes,
                "retry_backoff_seconds": retry_backoff_seconds,
                "attempts": attempts,
                "env": env,
                "secret_names": secret_names,
                "metadata": metadata,
                "progress": progress,
                "created_at": created_at,
                "updated_at": updated_at,
            }
        )
        if entrypoint is not UNSET:
            field_dict["entrypoint"] = entrypoint
        if model_id is not UNSET:
            field_dict["model_id"] = model_id
        if snapshot_id is not UNSET:
            field_dict["snapshot_id"] = snapshot_id
        if gpu_type is not UNSET:
            field_dict["gpu_type"] = gpu_type
        if reservation_id is not UNSET:
            field_dict["reservation_id"] = reservation_id
        if plugin_status is not UNSET:
            field_dict["plugin_status"] = plugin_status
        if not_before is not UNSET:
            field_dict["not_before"] = not_before
        if timeout_seconds is not UNSET:
            field_dict["timeout_seconds"] = timeout_seconds
        if experiment_id is not UNSET:
            field_dict["experiment_id"] = experiment_id
        if sweep_id is not UNSET:
            field_dict["sweep_id"] = sweep_id
        if trial is not UNSET:
            field_dict["trial"] = trial
        if variation_index is not UNSET:
            field_dict["variation_index"] = variation_index
        if variation_values is not UNSET:
            field_dict["variation_values"] = variation_values
        if run_label is not UNSET:
            field_dict["run_label"] = run_label
        if random_seed is not UNSET:
            field_dict["random_seed"] = random_seed
        if message is not UNSET:
            field_dict["message"] = message
        if failure is not UNSET:
            field_dict["failure"] = failure
        if worker_id is not UNSET:
            field_dict["worker_id"] = worker_id
        if started_at is not UNSET:
            field_dict["started_at"] = started_at
        if ended_at is not UNSET:
            field_dict["ended_at"] = ended_at
        if node_assignments is not UNSET:
            field_dict["node_assignments"] = node_assignments

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.dataset_spec import DatasetSpec  # noqa: PLC0415
        from ..models.metadata import Metadata  # noqa: PLC0415
        from ..models.model_inputs import ModelInputs  # noqa: PLC0415
        from ..models.node_assignment import NodeAssignment  # noqa: PLC0415
        from ..models.string_map import StringMap  # noqa: PLC0415
        from ..models.task_attempt import TaskAttempt  # noqa: PLC0415
        from ..models.task_failure import TaskFailure  # noqa: PLC0415
        from ..models.task_plugin_configs import TaskPluginConfigs  # noqa: PLC0415
        from ..models.task_plugin_status import TaskPluginStatus  # noqa: PLC0415
        from ..models.task_variation_values import TaskVariationValues  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        job_name = d.pop("job_name")

        status = TaskStatus(d.pop("status"))

        priority = d.pop("priority")

        priority_aged = d.pop("priority_aged")

        user_id = d.pop("user_id")

        args = cast(list[str], d.pop("args"))

        inputs = ModelInputs.from_dict(d.pop("inputs"))

        datasets = cast(list[str], d.pop("datasets"))

        dataset_specs = []
        _dataset_specs = d.pop("dataset_specs")
        for dataset_specs_item_data in _dataset_specs:
            dataset_specs_item = DatasetSpec.from_dict(dataset_specs_item_data)

            dataset_specs.append(dataset_specs_item)

        cpu = d.pop("cpu")

        memory_gb = d.pop("memory_gb")

        gpu = d.pop("gpu")

        node_count = d.pop("node_count")

        plugin_configs = TaskPluginConfigs.from_dict(d.pop("plugin_configs"))

        max_retries = d.pop("max_retries")

        retry_count = d.pop("retry_count")

        attempt = d.pop("attempt")

        retry_on = []
        _retry_on = d.pop("retry_on")
        for retry_on_item_data in _retry_on:
            retry_on_item = FailureReason(retry_on_item_data)

            retry_on.append(retry_on_item)

        retry_on_exit_codes = cast(list[int], d.pop("retry_on_exit_codes"))

        retry_backoff_seconds = d.pop("retry_backoff_seconds")

        attempts = []
        _attempts = d.pop("attempts")
        for attempts_item_data in _attempts:
            attempts_item = TaskAttempt.from_dict(attempts_item_data)

            attempts.append(attempts_item)

        env = StringMap.from_dict(d.pop("env"))

        secret_names = cast(list[str], d.pop("secret_names"))

        metadata = Metadata.from_dict(d.pop("metadata"))

        progress = d.pop("progress")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        entrypoint = d.pop("entrypoint", UNSET)

        model_id = d.pop("model_id", UNSET)

        snapshot_id = d.pop("snapshot_id", UNSET)

        gpu_type = d.pop("gpu_type", UNSET)

        reservation_id = d.pop("reservation_id", UNSET)

        _plugin_status = d.pop("plugin_status", UNSET)
        plugin_status: TaskPluginStatus | Unset
        if isinstance(_plugin_status, Unset):
            plugin_status = UNSET
        else:
            plugin_status = TaskPluginStatus.from_dict(_plugin_status)

        _not_before = d.pop("not_before", UNSET)
        not_before: datetime.datetime | Unset
        if isinstance(_not_before, Unset):
            not_before = UNSET
        else:
            not_before = datetime.datetime.fromisoformat(_not_before)

        timeout_seconds = d.pop("timeout_seconds", UNSET)

        experiment_id = d.pop("experiment_id", UNSET)

        sweep_id = d.pop("sweep_id", UNSET)

        trial = d.pop("trial", UNSET)

        variation_index = d.pop("variation_index", UNSET)

        _variation_values = d.pop("variation_values", UNSET)
        variation_values: TaskVariationValues | Unset
        if isinstance(_variation_values, Unset):
            variation_values = UNSET
        else:
            variation_values = TaskVariationValues.from_dict(_variation_values)

        run_label = d.pop("run_label", UNSET)

        random_seed = d.pop("random_seed", UNSET)

        message = d.pop("message", UNSET)

        _failure = d.pop("failure", UNSET)
        failure: TaskFailure | Unset
        if isinstance(_failure, Unset):
            failure = UNSET
        else:
            failure = TaskFailure.from_dict(_failure)

        worker_id = d.pop("worker_id", UNSET)

        _started_at = d.pop("started_at", UNSET)
        started_at: datetime.datetime | Unset
        if isinstance(_started_at, Unset):
            started_at = UNSET
        else:
            started_at = datetime.datetime.fromisoformat(_started_at)

        _ended_at = d.pop("ended_at", UNSET)
        ended_at: datetime.datetime | Unset
        if isinstance(_ended_at, Unset):
            ended_at = UNSET
        else:
            ended_at = datetime.datetime.fromisoformat(_ended_at)

        _node_assignments = d.pop("node_assignments", UNSET)
        node_assignments: list[NodeAssignment] | Unset = UNSET
        if _node_assignments is not UNSET:
            node_assignments = []
            for node_assignments_item_data in _node_assignments:
                node_assignments_item = NodeAssignment.from_dict(node_assignments_item_data)

                node_assignments.append(node_assignments_item)

        task = cls(
            id=id,
            job_name=job_name,
            status=status,
            priority=priority,
            priority_aged=priority_aged,
            user_id=user_id,
            args=args,
            inputs=inputs,
            datasets=datasets,
            dataset_specs=dataset_specs,
            cpu=cpu,
            memory_gb=memory_gb,
            gpu=gpu,
            node_count=node_count,
            plugin_configs=plugin_configs,
            max_retries=max_retries,
            retry_count=retry_count,
            attempt=attempt,
            retry_on=retry_on,
            retry_on_exit_codes=retry_on_exit_codes,
            retry_backoff_seconds=retry_backoff_seconds,
            attempts=attempts,
            env=env,
            secret_names=secret_names,
            metadata=metadata,
            progress=progress,
            created_at=created_at,
            updated_at=updated_at,
            entrypoint=entrypoint,
            model_id=model_id,
            snapshot_id=snapshot_id,
            gpu_type=gpu_type,
            reservation_id=reservation_id,
            plugin_status=plugin_status,
            not_before=not_before,
            timeout_seconds=timeout_seconds,
            experiment_id=experiment_id,
            sweep_id=sweep_id,
            trial=trial,
            variation_index=variation_index,
            variation_values=variation_values,
            run_label=run_label,
            random_seed=random_seed,
            message=message,
            failure=failure,
            worker_id=worker_id,
            started_at=started_at,
            ended_at=ended_at,
            node_assignments=node_assignments,
        )

        return task
