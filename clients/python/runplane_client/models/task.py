from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.task_status import TaskStatus

if TYPE_CHECKING:
    from ..models.dataset_spec import DatasetSpec
    from ..models.metadata import Metadata
    from ..models.model_inputs import ModelInputs
    from ..models.string_map import StringMap
    from ..models.task_failure_type_0 import TaskFailureType0
    from ..models.task_plugin_configs import TaskPluginConfigs


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
        entrypoint (None | str): The command, with secret-looking values redacted.
        args (list[str]): The arguments, with secret-looking values redacted.
        model_id (None | str):
        inputs (ModelInputs): Free-form inputs of a model run (e.g. `region`, `year`, `parameter_set`); an input named
            after a model
            parameter must be one of that parameter's values.
        snapshot_id (None | str):
        datasets (list[str]):
        dataset_specs (list[DatasetSpec]):
        cpu (int):
        memory_gb (float):
        gpu (int):
        gpu_type (None | str):
        node_count (int):
        reservation_id (None | str):
        plugin_configs (TaskPluginConfigs):
        max_retries (int):
        retry_count (int):
        timeout_seconds (int | None):
        env (StringMap): Names to string values.
        secret_names (list[str]): The names of the task's secrets; their values are never returned.
        metadata (Metadata): Free-form labels.
        experiment_id (None | str):
        run_label (None | str):
        random_seed (int | None):
        progress (float):
        message (None | str):
        failure (None | TaskFailureType0): Why a task did not complete; null while it has not failed.
        worker_id (None | str):
        created_at (datetime.datetime):
        updated_at (datetime.datetime):
        started_at (datetime.datetime | None):
        ended_at (datetime.datetime | None):
    """

    id: str
    job_name: str
    status: TaskStatus
    priority: int
    priority_aged: float
    user_id: str
    entrypoint: None | str
    args: list[str]
    model_id: None | str
    inputs: ModelInputs
    snapshot_id: None | str
    datasets: list[str]
    dataset_specs: list[DatasetSpec]
    cpu: int
    memory_gb: float
    gpu: int
    gpu_type: None | str
    node_count: int
    reservation_id: None | str
    plugin_configs: TaskPluginConfigs
    max_retries: int
    retry_count: int
    timeout_seconds: int | None
    env: StringMap
    secret_names: list[str]
    metadata: Metadata
    experiment_id: None | str
    run_label: None | str
    random_seed: int | None
    progress: float
    message: None | str
    failure: None | TaskFailureType0
    worker_id: None | str
    created_at: datetime.datetime
    updated_at: datetime.datetime
    started_at: datetime.datetime | None
    ended_at: datetime.datetime | None

    def to_dict(self) -> dict[str, Any]:
        from ..models.task_failure_type_0 import TaskFailureType0  # noqa: PLC0415

        id = self.id

        job_name = self.job_name

        status = self.status.value

        priority = self.priority

        priority_aged = self.priority_aged

        user_id = self.user_id

        entrypoint: None | str
        entrypoint = self.entrypoint

        args = self.args

        model_id: None | str
        model_id = self.model_id

        inputs = self.inputs.to_dict()

        snapshot_id: None | str
        snapshot_id = self.snapshot_id

        datasets = self.datasets

        dataset_specs = []
        for dataset_specs_item_data in self.dataset_specs:
            dataset_specs_item = dataset_specs_item_data.to_dict()
            dataset_specs.append(dataset_specs_item)

        cpu = self.cpu

        memory_gb = self.memory_gb

        gpu = self.gpu

        gpu_type: None | str
        gpu_type = self.gpu_type

        node_count = self.node_count

        reservation_id: None | str
        reservation_id = self.reservation_id

        plugin_configs = self.plugin_configs.to_dict()

        max_retries = self.max_retries

        retry_count = self.retry_count

        timeout_seconds: int | None
        timeout_seconds = self.timeout_seconds

        env = self.env.to_dict()

        secret_names = self.secret_names

        metadata = self.metadata.to_dict()

        experiment_id: None | str
        experiment_id = self.experiment_id

        run_label: None | str
        run_label = self.run_label

        random_seed: int | None
        random_seed = self.random_seed

        progress = self.progress

        message: None | str
        message = self.message

        failure: dict[str, Any] | None
        if isinstance(self.failure, TaskFailureType0):
            failure = self.failure.to_dict()
        else:
            failure = self.failure

        worker_id: None | str
        worker_id = self.worker_id

        created_at = self.created_at.isoformat()

        updated_at = self.updated_at.isoformat()

        started_at: None | str
        if isinstance(self.started_at, datetime.datetime):
            started_at = self.started_at.isoformat()
        else:
            started_at = self.started_at

        ended_at: None | str
        if isinstance(self.ended_at, datetime.datetime):
            ended_at = self.ended_at.isoformat()
        else:
            ended_at = self.ended_at

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "job_name": job_name,
                "status": status,
                "priority": priority,
                "priority_aged": priority_aged,
                "user_id": user_id,
                "entrypoint": entrypoint,
                "args": args,
                "model_id": model_id,
                "inputs": inputs,
                "snapshot_id": snapshot_id,
                "datasets": datasets,
                "dataset_specs": dataset_specs,
                "cpu": cpu,
                "memory_gb": memory_gb,
                "gpu": gpu,
                "gpu_type": gpu_type,
                "node_count": node_count,
                "reservation_id": reservation_id,
                "plugin_configs": plugin_configs,
                "max_retries": max_retries,
                "retry_count": retry_count,
                "timeout_seconds": timeout_seconds,
                "env": env,
                "secret_names": secret_names,
                "metadata": metadata,
                "experiment_id": experiment_id,
                "run_label": run_label,
                "random_seed": random_seed,
                "progress": progress,
                "message": message,
                "failure": failure,
                "worker_id": worker_id,
                "created_at": created_at,
                "updated_at": updated_at,
                "started_at": started_at,
                "ended_at": ended_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.dataset_spec import DatasetSpec  # noqa: PLC0415
        from ..models.metadata import Metadata  # noqa: PLC0415
        from ..models.model_inputs import ModelInputs  # noqa: PLC0415
        from ..models.string_map import StringMap  # noqa: PLC0415
        from ..models.task_failure_type_0 import TaskFailureType0  # noqa: PLC0415
        from ..models.task_plugin_configs import TaskPluginConfigs  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        job_name = d.pop("job_name")

        status = TaskStatus(d.pop("status"))

        priority = d.pop("priority")

        priority_aged = d.pop("priority_aged")

        user_id = d.pop("user_id")

        def _parse_entrypoint(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        entrypoint = _parse_entrypoint(d.pop("entrypoint"))

        args = cast(list[str], d.pop("args"))

        def _parse_model_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        model_id = _parse_model_id(d.pop("model_id"))

        inputs = ModelInputs.from_dict(d.pop("inputs"))

        def _parse_snapshot_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        snapshot_id = _parse_snapshot_id(d.pop("snapshot_id"))

        datasets = cast(list[str], d.pop("datasets"))

        dataset_specs = []
        _dataset_specs = d.pop("dataset_specs")
        for dataset_specs_item_data in _dataset_specs:
            dataset_specs_item = DatasetSpec.from_dict(dataset_specs_item_data)

            dataset_specs.append(dataset_specs_item)

        cpu = d.pop("cpu")

        memory_gb = d.pop("memory_gb")

        gpu = d.pop("gpu")

        def _parse_gpu_type(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        gpu_type = _parse_gpu_type(d.pop("gpu_type"))

        node_count = d.pop("node_count")

        def _parse_reservation_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        reservation_id = _parse_reservation_id(d.pop("reservation_id"))

        plugin_configs = TaskPluginConfigs.from_dict(d.pop("plugin_configs"))

        max_retries = d.pop("max_retries")

        retry_count = d.pop("retry_count")

        def _parse_timeout_seconds(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        timeout_seconds = _parse_timeout_seconds(d.pop("timeout_seconds"))

        env = StringMap.from_dict(d.pop("env"))

        secret_names = cast(list[str], d.pop("secret_names"))

        metadata = Metadata.from_dict(d.pop("metadata"))

        def _parse_experiment_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        experiment_id = _parse_experiment_id(d.pop("experiment_id"))

        def _parse_run_label(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        run_label = _parse_run_label(d.pop("run_label"))

        def _parse_random_seed(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        random_seed = _parse_random_seed(d.pop("random_seed"))

        progress = d.pop("progress")

        def _parse_message(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        message = _parse_message(d.pop("message"))

        def _parse_failure(data: object) -> None | TaskFailureType0:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_task_failure_type_0 = TaskFailureType0.from_dict(data)

                return componentsschemas_task_failure_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | TaskFailureType0, data)

        failure = _parse_failure(d.pop("failure"))

        def _parse_worker_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        worker_id = _parse_worker_id(d.pop("worker_id"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        def _parse_started_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                started_at_type_0 = datetime.datetime.fromisoformat(data)

                return started_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        started_at = _parse_started_at(d.pop("started_at"))

        def _parse_ended_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                ended_at_type_0 = datetime.datetime.fromisoformat(data)

                return ended_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        ended_at = _parse_ended_at(d.pop("ended_at"))

        task = cls(
            id=id,
            job_name=job_name,
            status=status,
            priority=priority,
            priority_aged=priority_aged,
            user_id=user_id,
            entrypoint=entrypoint,
            args=args,
            model_id=model_id,
            inputs=inputs,
            snapshot_id=snapshot_id,
            datasets=datasets,
            dataset_specs=dataset_specs,
            cpu=cpu,
            memory_gb=memory_gb,
            gpu=gpu,
            gpu_type=gpu_type,
            node_count=node_count,
            reservation_id=reservation_id,
            plugin_configs=plugin_configs,
            max_retries=max_retries,
            retry_count=retry_count,
            timeout_seconds=timeout_seconds,
            env=env,
            secret_names=secret_names,
            metadata=metadata,
            experiment_id=experiment_id,
            run_label=run_label,
            random_seed=random_seed,
            progress=progress,
            message=message,
            failure=failure,
            worker_id=worker_id,
            created_at=created_at,
            updated_at=updated_at,
            started_at=started_at,
            ended_at=ended_at,
        )

        return task
