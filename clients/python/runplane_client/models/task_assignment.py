from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.task_kind import TaskKind
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.dataset_spec import DatasetSpec
    from ..models.model_inputs import ModelInputs
    from ..models.string_map import StringMap


T = TypeVar("T", bound="TaskAssignment")


@_attrs_define
class TaskAssignment:
    """Everything a worker needs to run a task, secrets included (only workers ever see this); absent from a
    claim answer when nothing fits.

        Attributes:
            task_id (str): An opaque identifier.
            attempt (int):
            job_name (str):
            args (list[str]):
            inputs (ModelInputs): Inputs of a model run: the model's parameters (one of each one's values), `parameter_set`
                (a named
                preset of them; `baseline` is the defaults), `region` and `year` (they select the generated data).
                Each model lists what it reads, and what each input does, in its `inputs`; any other input is a 422.
                Server limit: nested at most 32 levels deep within the request body (see "Request bodies" above).
            dataset_specs (list[DatasetSpec]):
            cpu (int):
            memory_gb (float):
            gpu (int):
            env (StringMap): Names to string values.
            secrets (StringMap): Names to string values.
            kind (TaskKind): `service`: a long-running server (a Jupyter service). The worker appends `--ip=<host>` and
                `--port=<a free port>` to its command, waits until `http://<host>:<port>/api/status` answers and
                reports that address as the task's `service_url`.
            entrypoint (str | Unset):
            model_id (str | Unset):
            snapshot_id (str | Unset):
            gpu_type (str | Unset):
            timeout_seconds (int | Unset):
            output_env (StringMap | Unset): Names to string values.
            random_seed (int | Unset):
    """

    task_id: str
    attempt: int
    job_name: str
    args: list[str]
    inputs: ModelInputs
    dataset_specs: list[DatasetSpec]
    cpu: int
    memory_gb: float
    gpu: int
    env: StringMap
    secrets: StringMap
    kind: TaskKind
    entrypoint: str | Unset = UNSET
    model_id: str | Unset = UNSET
    snapshot_id: str | Unset = UNSET
    gpu_type: str | Unset = UNSET
    timeout_seconds: int | Unset = UNSET
    output_env: StringMap | Unset = UNSET
    random_seed: int | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        task_id = self.task_id

        attempt = self.attempt

        job_name = self.job_name

        args = self.args

        inputs = self.inputs.to_dict()

        dataset_specs = []
        for dataset_specs_item_data in self.dataset_specs:
            dataset_specs_item = dataset_specs_item_data.to_dict()
            dataset_specs.append(dataset_specs_item)

        cpu = self.cpu

        memory_gb = self.memory_gb

        gpu = self.gpu

        env = self.env.to_dict()

        secrets = self.secrets.to_dict()

        kind = self.kind.value

        entrypoint = self.entrypoint

        model_id = self.model_id

        snapshot_id = self.snapshot_id

        gpu_type = self.gpu_type

        timeout_seconds = self.timeout_seconds

        output_env: dict[str, Any] | Unset = UNSET
        if not isinstance(self.output_env, Unset):
            output_env = self.output_env.to_dict()

        random_seed = self.random_seed

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "task_id": task_id,
                "attempt": attempt,
                "job_name": job_name,
                "args": args,
                "inputs": inputs,
                "dataset_specs": dataset_specs,
                "cpu": cpu,
                "memory_gb": memory_gb,
                "gpu": gpu,
                "env": env,
                "secrets": secrets,
                "kind": kind,
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
        if timeout_seconds is not UNSET:
            field_dict["timeout_seconds"] = timeout_seconds
        if output_env is not UNSET:
            field_dict["output_env"] = output_env
        if random_seed is not UNSET:
            field_dict["random_seed"] = random_seed

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.dataset_spec import DatasetSpec  # noqa: PLC0415
        from ..models.model_inputs import ModelInputs  # noqa: PLC0415
        from ..models.string_map import StringMap  # noqa: PLC0415

        d = dict(src_dict)
        task_id = d.pop("task_id")

        attempt = d.pop("attempt")

        job_name = d.pop("job_name")

        args = cast(list[str], d.pop("args"))

        inputs = ModelInputs.from_dict(d.pop("inputs"))

        dataset_specs = []
        _dataset_specs = d.pop("dataset_specs")
        for dataset_specs_item_data in _dataset_specs:
            dataset_specs_item = DatasetSpec.from_dict(dataset_specs_item_data)

            dataset_specs.append(dataset_specs_item)

        cpu = d.pop("cpu")

        memory_gb = d.pop("memory_gb")

        gpu = d.pop("gpu")

        env = StringMap.from_dict(d.pop("env"))

        secrets = StringMap.from_dict(d.pop("secrets"))

        kind = TaskKind(d.pop("kind"))

        entrypoint = d.pop("entrypoint", UNSET)

        model_id = d.pop("model_id", UNSET)

        snapshot_id = d.pop("snapshot_id", UNSET)

        gpu_type = d.pop("gpu_type", UNSET)

        timeout_seconds = d.pop("timeout_seconds", UNSET)

        _output_env = d.pop("output_env", UNSET)
        output_env: StringMap | Unset
        if isinstance(_output_env, Unset):
            output_env = UNSET
        else:
            output_env = StringMap.from_dict(_output_env)

        random_seed = d.pop("random_seed", UNSET)

        task_assignment = cls(
            task_id=task_id,
            attempt=attempt,
            job_name=job_name,
            args=args,
            inputs=inputs,
            dataset_specs=dataset_specs,
            cpu=cpu,
            memory_gb=memory_gb,
            gpu=gpu,
            env=env,
            secrets=secrets,
            kind=kind,
            entrypoint=entrypoint,
            model_id=model_id,
            snapshot_id=snapshot_id,
            gpu_type=gpu_type,
            timeout_seconds=timeout_seconds,
            output_env=output_env,
            random_seed=random_seed,
        )

        return task_assignment
