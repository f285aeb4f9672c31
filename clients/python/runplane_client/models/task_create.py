from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.failure_reason import FailureReason
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.dataset_spec import DatasetSpec
    from ..models.environment import Environment
    from ..models.metadata import Metadata
    from ..models.model_inputs import ModelInputs
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
        args (list[str] | str | Unset): Arguments appended to the entrypoint: an array, or one string split as a POSIX
            shell would
            (`--epochs 10 --name "my run"` becomes `["--epochs", "10", "--name", "my run"]`; no shell runs
            it). The task shows the resulting array; a string that does not split (an unclosed quote), more
            than 256 arguments or one over 4096 characters is a 422.
        model_id (str | Unset): The id of a catalog model.
        inputs (ModelInputs | Unset): Inputs of a model run: the model's parameters (one of each one's values),
            `parameter_set` (a named
            preset of them; `baseline` is the defaults), `region` and `year` (they select the generated data).
            Each model lists what it reads, and what each input does, in its `inputs`; any other input is a 422.
            Server limit: nested at most 32 levels deep within the request body (see "Request bodies" above).
        snapshot_id (str | Unset): An opaque identifier.
        datasets (list[str] | Unset): Reserved for datasets known to the server by name, which this server does not have
            yet: a
            non-empty list is refused with 422. Describe each dataset the task needs in `dataset_specs`
            (source and sha256; the worker fetches, verifies and mounts it).
        dataset_specs (list[DatasetSpec] | Unset):
        cpu (int | Unset): CPU cores requested. Default: 1.
        memory_gb (float | Unset): Memory requested, in GiB; the task is stopped when it uses more. Default: 1.0.
        gpu (int | Unset): GPUs requested. Default: 0.
        gpu_type (str | Unset): A GPU model the task needs, e.g. `H100`.
        node_count (int | Unset):  Default: 1.
        reservation_id (str | Unset): An opaque identifier.
        plugin_configs (TaskCreatePluginConfigs | Unset): Tracking plugins for this task by name (`mlflow`,
            `tensorboard`, `wandb`): a config here enables
            the plugin for the task (unless `enabled: false` or mode `disabled`), and its settings override
            the server's. Secret settings reach the task only as secret environment variables.
        max_retries (int | Unset): How often the task runs again after a failure that `retry_on` (or
            `retry_on_exit_codes`) names,
            before it fails for good.
             Default: 0.
        retry_on (list[FailureReason] | Unset): The failure reasons that are retried while retries are left (`cancelled`
            never is). Without it,
            only a lost worker (`[worker_lost]`) is retried.
        retry_on_exit_codes (list[int] | Unset): A failure with reason `exit_code` and one of these exit codes is
            retried too.
        retry_backoff_seconds (int | Unset): Seconds before a retried task may be claimed again, doubled on each further
            retry (1st retry:
            this, 2nd: twice this, ...), at most 3600.
             Default: 0.
        timeout_seconds (int | Unset): Wall-clock limit; the task fails with reason `timeout` past it.
        env (Environment | Unset): Environment variables of a task. Names must be POSIX names (`[A-Za-z_][A-Za-z0-9_]*`:
            a name such
            as `A=B`, `1X` or an empty one is refused with 400, naming it); values are strings without NUL.
        secrets (TaskCreateSecrets | Unset): Environment variables for the task whose values are never returned, logged
            or stored in
            artifacts. Names follow the rules of `env`.
        metadata (Metadata | Unset): Free-form labels.
        experiment_id (str | Unset): An opaque identifier.
        run_label (str | Unset):
        random_seed (int | Unset):
    """

    job_name: str
    priority: int | Unset = 5
    entrypoint: str | Unset = UNSET
    args: list[str] | str | Unset = UNSET
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
    retry_on: list[FailureReason] | Unset = UNSET
    retry_on_exit_codes: list[int] | Unset = UNSET
    retry_backoff_seconds: int | Unset = 0
    timeout_seconds: int | Unset = UNSET
    env: Environment | Unset = UNSET
    secrets: TaskCreateSecrets | Unset = UNSET
    metadata: Metadata | Unset = UNSET
    experiment_id: str | Unset = UNSET
    run_label: str | Unset = UNSET
    random_seed: int | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        job_name = self.job_name

        priority = self.priority

        entrypoint = self.entrypoint

        args: list[str] | str | Unset
        if isinstance(self.args, Unset):
            args = UNSET
        elif isinstance(self.args, list):
            args = self.args

        else:
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

        retry_on: list[str] | Unset = UNSET
        if not isinstance(self.retry_on, Unset):
            retry_on = []
            for retry_on_item_data in self.retry_on:
                retry_on_item = retry_on_item_data.value
                retry_on.append(retry_on_item)

        retry_on_exit_codes: list[int] | Unset = UNSET
        if not isinstance(self.retry_on_exit_codes, Unset):
            retry_on_exit_codes = self.retry_on_exit_codes

        retry_backoff_seconds = self.retry_backoff_seconds

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
        if retry_on is not UNSET:
            field_dict["retry_on"] = retry_on
        if retry_on_exit_codes is not UNSET:
            field_dict["retry_on_exit_codes"] = retry_on_exit_codes
        if retry_backoff_seconds is not UNSET:
            field_dict["retry_backoff_seconds"] = retry_backoff_seconds
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
        from ..models.environment import Environment  # noqa: PLC0415
        from ..models.metadata import Metadata  # noqa: PLC0415
        from ..models.model_inputs import ModelInputs  # noqa: PLC0415
        from ..models.task_create_plugin_configs import TaskCreatePluginConfigs  # noqa: PLC0415
        from ..models.task_create_secrets import TaskCreateSecrets  # noqa: PLC0415

        d = dict(src_dict)
        job_name = d.pop("job_name")

        priority = d.pop("priority", UNSET)

        entrypoint = d.pop("entrypoint", UNSET)

        def _parse_args(data: object) -> list[str] | str | Unset:
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                args_type_1 = cast(list[str], data)

                return args_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | str | Unset, data)

        args = _parse_args(d.pop("args", UNSET))

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

        _retry_on = d.pop("retry_on", UNSET)
        retry_on: list[FailureReason] | Unset = UNSET
        if _retry_on is not UNSET:
            retry_on = []
            for retry_on_item_data in _retry_on:
                retry_on_item = FailureReason(retry_on_item_data)

                retry_on.append(retry_on_item)

        retry_on_exit_codes = cast(list[int], d.pop("retry_on_exit_codes", UNSET))

        retry_backoff_seconds = d.pop("retry_backoff_seconds", UNSET)

        timeout_seconds = d.pop("timeout_seconds", UNSET)

        _env = d.pop("env", UNSET)
        env: Environment | Unset
        if isinstance(_env, Unset):
            env = UNSET
        else:
            env = Environment.from_dict(_env)

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
            retry_on=retry_on,
            retry_on_exit_codes=retry_on_exit_codes,
            retry_backoff_seconds=retry_backoff_seconds,
            timeout_seconds=timeout_seconds,
            env=env,
            secrets=secrets,
            metadata=metadata,
            experiment_id=experiment_id,
            run_label=run_label,
            random_seed=random_seed,
        )

        return task_create
