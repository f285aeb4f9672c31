from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.dataset_spec import DatasetSpec
    from ..models.model_inputs import ModelInputs
    from ..models.string_map import StringMap


T = TypeVar("T", bound="TaskAssignmentType0")


@_attrs_define
class TaskAssignmentType0:
    """Everything a worker needs to run a task, secrets included (only workers ever see this); null in a
    claim answer when nothing fits.

        Attributes:
            task_id (str): An opaque identifier.
            attempt (int):
            job_name (str):
            entrypoint (None | str):
            args (list[str]):
            model_id (None | str):
            inputs (ModelInputs): Free-form inputs of a model run (e.g. `region`, `year`, `parameter_set`); an input named
                after a model
                parameter must be one of that parameter's values.
            snapshot_id (None | str):
            dataset_specs (list[DatasetSpec]):
            cpu (int):
            memory_gb (float):
            gpu (int):
            gpu_type (None | str):
            timeout_seconds (int | None):
            env (StringMap): Names to string values.
            secrets (StringMap): Names to string values.
            random_seed (int | None):
    """

    task_id: str
    attempt: int
    job_name: str
    entrypoint: None | str
    args: list[str]
    model_id: None | str
    inputs: ModelInputs
    snapshot_id: None | str
    dataset_specs: list[DatasetSpec]
    cpu: int
    memory_gb: float
    gpu: int
    gpu_type: None | str
    timeout_seconds: int | None
    env: StringMap
    secrets: StringMap
    random_seed: int | None

    def to_dict(self) -> dict[str, Any]:
        task_id = self.task_id

        attempt = self.attempt

        job_name = self.job_name

        entrypoint: None | str
        entrypoint = self.entrypoint

        args = self.args

        model_id: None | str
        model_id = self.model_id

        inputs = self.inputs.to_dict()

        snapshot_id: None | str
        snapshot_id = self.snapshot_id

        dataset_specs = []
        for dataset_specs_item_data in self.dataset_specs:
            dataset_specs_item = dataset_specs_item_data.to_dict()
            dataset_specs.append(dataset_specs_item)

        cpu = self.cpu

        memory_gb = self.memory_gb

        gpu = self.gpu

        gpu_type: None | str
        gpu_type = self.gpu_type

        timeout_seconds: int | None
        timeout_seconds = self.timeout_seconds

        env = self.env.to_dict()

        secrets = self.secrets.to_dict()

        random_seed: int | None
        random_seed = self.random_seed

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "task_id": task_id,
                "attempt": attempt,
                "job_name": job_name,
                "entrypoint": entrypoint,
                "args": args,
                "model_id": model_id,
                "inputs": inputs,
                "snapshot_id": snapshot_id,
                "dataset_specs": dataset_specs,
                "cpu": cpu,
                "memory_gb": memory_gb,
                "gpu": gpu,
                "gpu_type": gpu_type,
                "timeout_seconds": timeout_seconds,
                "env": env,
                "secrets": secrets,
                "random_seed": random_seed,
            }
        )

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

        def _parse_timeout_seconds(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        timeout_seconds = _parse_timeout_seconds(d.pop("timeout_seconds"))

        env = StringMap.from_dict(d.pop("env"))

        secrets = StringMap.from_dict(d.pop("secrets"))

        def _parse_random_seed(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        random_seed = _parse_random_seed(d.pop("random_seed"))

        task_assignment_type_0 = cls(
            task_id=task_id,
            attempt=attempt,
            job_name=job_name,
            entrypoint=entrypoint,
            args=args,
            model_id=model_id,
            inputs=inputs,
            snapshot_id=snapshot_id,
            dataset_specs=dataset_specs,
            cpu=cpu,
            memory_gb=memory_gb,
            gpu=gpu,
            gpu_type=gpu_type,
            timeout_seconds=timeout_seconds,
            env=env,
            secrets=secrets,
            random_seed=random_seed,
        )

        return task_assignment_type_0
