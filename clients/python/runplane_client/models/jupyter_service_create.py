from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="JupyterServiceCreate")


@_attrs_define
class JupyterServiceCreate:
    """A Jupyter server to start. fetch_ml's `workspace` is `snapshot_id` here (the server's root directory
    holds that snapshot's files); its `image` has no counterpart (servers run on the worker's Python,
    not in containers) and is refused.

        Attributes:
            name (str): A name for the service (also its task's `job_name`).
            snapshot_id (str | Unset): An opaque identifier.
            cpu (int | Unset): CPU cores reserved for the server and its kernels. Default: 1.
            memory_gb (float | Unset): Memory for the server and its kernels, in GiB; the service is stopped when it uses
                more. Default: 2.0.
            gpu (int | Unset): GPUs reserved for its kernels. Default: 0.
            gpu_type (str | Unset): A GPU model the service needs, e.g. `H100`.
            timeout_seconds (int | Unset): Stop the service after this long running (default: runs until stopped).
    """

    name: str
    snapshot_id: str | Unset = UNSET
    cpu: int | Unset = 1
    memory_gb: float | Unset = 2.0
    gpu: int | Unset = 0
    gpu_type: str | Unset = UNSET
    timeout_seconds: int | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        snapshot_id = self.snapshot_id

        cpu = self.cpu

        memory_gb = self.memory_gb

        gpu = self.gpu

        gpu_type = self.gpu_type

        timeout_seconds = self.timeout_seconds

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
            }
        )
        if snapshot_id is not UNSET:
            field_dict["snapshot_id"] = snapshot_id
        if cpu is not UNSET:
            field_dict["cpu"] = cpu
        if memory_gb is not UNSET:
            field_dict["memory_gb"] = memory_gb
        if gpu is not UNSET:
            field_dict["gpu"] = gpu
        if gpu_type is not UNSET:
            field_dict["gpu_type"] = gpu_type
        if timeout_seconds is not UNSET:
            field_dict["timeout_seconds"] = timeout_seconds

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        snapshot_id = d.pop("snapshot_id", UNSET)

        cpu = d.pop("cpu", UNSET)

        memory_gb = d.pop("memory_gb", UNSET)

        gpu = d.pop("gpu", UNSET)

        gpu_type = d.pop("gpu_type", UNSET)

        timeout_seconds = d.pop("timeout_seconds", UNSET)

        jupyter_service_create = cls(
            name=name,
            snapshot_id=snapshot_id,
            cpu=cpu,
            memory_gb=memory_gb,
            gpu=gpu,
            gpu_type=gpu_type,
            timeout_seconds=timeout_seconds,
        )

        return jupyter_service_create
