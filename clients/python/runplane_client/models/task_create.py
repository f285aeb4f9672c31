from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.dataset_spec import DatasetSpec
    from ..models.metadata import Metadata
    from ..models.model_inputs import ModelInputs
    from ..models.string_map import StringMap
    from ..models.task_create_plugin_configs import TaskCreatePluginConfigs
    from ..models.task_create_secrets import TaskCreateSecrets


T = TypeVar("T", bound="TaskCreate")


@_attrs_define
class TaskCreate:
    """What to run. Give `entrypoint` (with optional `args`) or `model_id` (with `inputs`).

    Attributes:
        job_name (str): A name for the task.
        priority (int | Unset):  Default: 5.
        entrypoint (str | Unset): The command, split like a shell would (no shell runs it): `python train.py`,
            `train.py`,
            `/bin/bash -c "echo hello"`. A `.py` or `.sh` file runs with python or sh.
        args (list[str] | Unset): Arguments appended to the entrypoint.
        model_id (str | Unset): The id of a catalog model.
        inputs (ModelInputs | Unset): Free-form inputs of a model run (e.g. `region`, `year`, `parameter_set`); an input
            named after a model
            parameter must be one of that parameter's values.
        snapshot_id (str | Unset): An opaque identifier.
        datasets (list[str] | Unset): Names of datasets the task uses.
        dataset_specs (list[DatasetSpec] | Unset):
        cpu (int | Unset): CPU cores requested. Default: 1.
        memory_gb (float | Unset): Memory requested, in GiB; the task is stopped when it uses more. Default: 1.0.
        gpu (int | Unset): GPUs requested. Default: 0.
        gpu_type (str | Unset): A GPU model the task needs, e.g. `H100`.
        node_count (int | Unset):  Default: 1.
        reservation_id (str | Unset): An opaque identifier.
        plugin_configs (TaskCreatePluginConfigs | Unset):
        max_retries (int | Unset): How often a task whose worker was lost runs again. Default: 0.
        timeout_seconds (int | Unset): Wall-clock limit; the task fails with reason `timeout` past it.
        env (StringMap | Unset): Names to string values.
        secrets (TaskCreateSecrets | Unset): Environment variables for the task whose values are never returned, logged
            or stored in artifacts.
        metadata (Metadata | Unset): Free-form labels.
        experiment_id (str | Unset): An opaque identifier.
        run_label (str | Unset):
        random_seed (int | Unset):
    """

    job_name: str
    priority: int | Unset = 5
    entrypoint: str | Unset = UNSET
    args: list[str] | Unset = UNSET
    model_id: str | Unset = UNSET
    inputs: ModelInputs | Unset = UNSET
    snapshot_id: str | Unset = UNSET
    datasets: list[str] | Unset = UNSET
    dataset_specs: list[DatasetSpec] | Unset = UNSET
    cpu: int | Unset = 1
    memory_gb: float | Unset = 1.0
    gpu: int | Unset = 0
    gpu_type: str | Unset = UNSET
    node_count: int | Unset = 1
    reservation_id: str | Unset = UNSET
    plugin_configs: TaskCreatePluginConfigs | Unset = UNSET
    max_retries: int | Unset = 0
    timeout_seconds: int | Unset = UNSET
    env: StringMap | Unset = UNSET
    secrets: TaskCreateSecrets | Unset = UNSET
    metadata: Metadata | Unset = UNSET
    experiment_id: str | Unset = UNSET
    run_label: str | Unset = UNSET
    random_seed: int | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        job_name = self.job_name

        priority = self.priority

        entrypoint = self.entrypoint

        args: list[str] | Unset = UNSET
        if not isinstance(self.args, Unset):
            args = self.args

        model_id = self.model_id

        inputs: dict[str, Any] | Unset = UNSET
        if not isinstance(self.inputs, Unset):
            inputs = self.inputs.to_dict()

        snapshot_id = self.snapshot_id

        datasets: list[str] | Unset = UNSET
        if not isinstance(self.datasets, Unset):
            datasets = self.datasets

        dataset_specs: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.dataset_specs, Unset):
            dataset_specs = []
            for dataset_specs_item_data in self.dataset_specs:
                dataset_specs_item = dataset_specs_item_data.to_dict()
                dataset_specs.append(dataset_specs_item)

        cpu = self.cpu

        memory_gb = self.memory_gb

        gpu = self.gpu

        gpu_type = self.gpu_type

        node_count = self.node_count

        reservation_id = self.reservation_id

        plugin_configs: dict[str, Any] | Unset = UNSET
        if not isinstance(self.plugin_configs, Unset):
            plugin_configs = self.plugin_configs.to_dict()

        max_retries = self.max_retries

        timeout_seconds = self.timeout_seconds

        env: dict[str, Any] | Unset = UNSET
        if not isinstance(self.env, Unset):
            env = self.env.to_dict()

        secrets: dict[str, Any] | Unset = UNSET
        if not isinstance(self.secrets, Unset):
            secrets = self.secrets.to_dict()

        metadata: dict[str, Any] | Unset = UNSET
        if not isinstance(self.metadata, Unset):
            metadata = self.metadata.to_dict()

        experiment_id = self.experiment_id

        run_label = self.run_label

        random_seed = self.random_seed

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "job_name": job_name,
            }
        )
        if priority is not UNSET:
            field_dict["priority"] = priority
        if entrypoint is not UNSET:
            field_dict["entrypoint"] = entrypoint
        if args is not UNSET:
            field_dict["args"] = args
        if model_id is not UNSET:
            field_dict["model_id"] = model_id
        if inputs is not UNSET:
            field_dict["inputs"] = inputs
        if snapshot_id is not UNSET:
            field_dict["snapshot_id"] = snapshot_id
        if datasets is not UNSET:
            field_dict["datasets"] = datasets
        if dataset_specs is not UNSET:
            field_dict["dataset_specs"] = dataset_specs
        if cpu is not UNSET:
            field_dict["cpu"] = cpu
        if memory_gb is not UNSET:
            field_dict["memory_gb"] = memory_gb
        if gpu is not UNSET:
            field_dict["gpu"] = gpu
        if gpu_type is not UNSET:
            field_dict["gpu_type"] = gpu_type
        if node_count is not UNSET:
            field_dict["node_count"] = node_count
        if reservation_id is not UNSET:
            field_dict["reservation_id"] = reservation_id
        if plugin_configs is not UNSET:
            field_dict["plugin_configs"] = plugin_configs
        if max_retries is not UNSET:
            field_dict["max_retries"] = max_retries
        if timeout_seconds is not UNSET:
            field_dict["timeout_seconds"] = timeout_seconds
        if env is not UNSET:
            field_dict["env"] = env
        if secrets is not UNSET:
            field_dict["secrets"] = secrets
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if experiment_id is not UNSET:
            field_dict["experiment_id"] = experiment_id
        if run_label is not UNSET:
            field_dict["run_label"] = run_label
        if random_seed is not UNSET:
            field_dict["random_seed"] = random_seed

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.dataset_spec import DatasetSpec  # noqa: PLC0415
        from ..models.metadata import Metadata  # noqa: PLC0415
        from ..models.model_inputs import ModelInputs  # noqa: PLC0415
        from ..models.string_map import StringMap  # noqa: PLC0415
        from ..models.task_create_plugin_configs import TaskCreatePluginConfigs  # noqa: PLC0415
        from ..models.task_create_secrets import TaskCreateSecrets  # noqa: PLC0415

        d = dict(src_dict)
        job_name = d.pop("job_name")

        priority = d.pop("priority", UNSET)

        entrypoint = d.pop("entrypoint", UNSET)

        args = cast(list[str], d.pop("args", UNSET))

        model_id = d.pop("model_id", UNSET)

        _inputs = d.pop("inputs", UNSET)
        inputs: ModelInputs | Unset
        if isinstance(_inputs, Unset):
            inputs = UNSET
        else:
            inputs = ModelInputs.from_dict(_inputs)

        snapshot_id = d.pop("snapshot_id", UNSET)

        datasets = cast(list[str], d.pop("datasets", UNSET))

        _dataset_specs = d.pop("dataset_specs", UNSET)
        dataset_specs: list[DatasetSpec] | Unset = UNSET
        if _dataset_specs is not UNSET:
            dataset_specs = []
            for dataset_specs_item_data in _dataset_specs:
                dataset_specs_item = DatasetSpec.from_dict(dataset_specs_item_data)

                dataset_specs.append(dataset_specs_item)

        cpu = d.pop("cpu", UNSET)

        memory_gb = d.pop("memory_gb", UNSET)

        gpu = d.pop("gpu", UNSET)

        gpu_type = d.pop("gpu_type", UNSET)

        node_count = d.pop("node_count", UNSET)

        reservation_id = d.pop("reservation_id", UNSET)

        _plugin_configs = d.pop("plugin_configs", UNSET)
        plugin_configs: TaskCreatePluginConfigs | Unset
        if isinstance(_plugin_configs, Unset):
            plugin_configs = UNSET
        else:
            plugin_configs = TaskCreatePluginConfigs.from_dict(_plugin_configs)

        max_retries = d.pop("max_retries", UNSET)

        timeout_seconds = d.pop("timeout_seconds", UNSET)

        _env = d.pop("env", UNSET)
        env: StringMap | Unset
        if isinstance(_env, Unset):
            env = UNSET
        else:
            env = StringMap.from_dict(_env)

        _secrets = d.pop("secrets", UNSET)
        secrets: TaskCreateSecrets | Unset
        if isinstance(_secrets, Unset):
            secrets = UNSET
        else:
            secrets = TaskCreateSecrets.from_dict(_secrets)

        _metadata = d.pop("metadata", UNSET)
        metadata: Metadata | Unset
        if isinstance(_metadata, Unset):
            metadata = UNSET
        else:
            metadata = Metadata.from_dict(_metadata)

        experiment_id = d.pop("experiment_id", UNSET)

        run_label = d.pop("run_label", UNSET)

        random_seed = d.pop("random_seed", UNSET)

        task_create = cls(
            job_name=job_name,
            priority=priority,
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
            timeout_seconds=timeout_seconds,
            env=env,
            secrets=secrets,
            metadata=metadata,
            experiment_id=experiment_id,
            run_label=run_label,
            random_seed=random_seed,
        )

        return task_create
