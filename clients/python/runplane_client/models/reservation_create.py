from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="ReservationCreate")


@_attrs_define
class ReservationCreate:
    """
    Attributes:
        gpu_count (int): GPUs held on each node; 0 reserves CPU slots only.
        gpu_type (str | Unset): A GPU model the held GPUs must be, e.g. `H100` (as a task's `gpu_type` matches).
        node_count (int | Unset): How many workers to hold the per-node capacity on. Default: 1.
        cpu (int | Unset): CPU cores held on each node. Default: 1.
        memory_gb (float | Unset): Memory held on each node, in GiB. Default: 1.0.
        starts_at (datetime.datetime | Unset):
        expires_at (datetime.datetime | Unset):
        expires_minutes (int | Unset): The reservation's length from `starts_at`, when `expires_at` is not given
            (default 30).
            Give one of `expires_at` and `expires_minutes`.
    """

    gpu_count: int
    gpu_type: str | Unset = UNSET
    node_count: int | Unset = 1
    cpu: int | Unset = 1
    memory_gb: float | Unset = 1.0
    starts_at: datetime.datetime | Unset = UNSET
    expires_at: datetime.datetime | Unset = UNSET
    expires_minutes: int | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        gpu_count = self.gpu_count

        gpu_type = self.gpu_type

        node_count = self.node_count

        cpu = self.cpu

        memory_gb = self.memory_gb

        starts_at: str | Unset = UNSET
        if not isinstance(self.starts_at, Unset):
            starts_at = self.starts_at.isoformat()

        expires_at: str | Unset = UNSET
        if not isinstance(self.expires_at, Unset):
            expires_at = self.expires_at.isoformat()

        expires_minutes = self.expires_minutes

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "gpu_count": gpu_count,
            }
        )
        if gpu_type is not UNSET:
            field_dict["gpu_type"] = gpu_type
        if node_count is not UNSET:
            field_dict["node_count"] = node_count
        if cpu is not UNSET:
            field_dict["cpu"] = cpu
        if memory_gb is not UNSET:
            field_dict["memory_gb"] = memory_gb
        if starts_at is not UNSET:
            field_dict["starts_at"] = starts_at
        if expires_at is not UNSET:
            field_dict["expires_at"] = expires_at
        if expires_minutes is not UNSET:
            field_dict["expires_minutes"] = expires_minutes

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        gpu_count = d.pop("gpu_count")

        gpu_type = d.pop("gpu_type", UNSET)

        node_count = d.pop("node_count", UNSET)

        cpu = d.pop("cpu", UNSET)

        memory_gb = d.pop("memory_gb", UNSET)

        _starts_at = d.pop("starts_at", UNSET)
        starts_at: datetime.datetime | Unset
        if isinstance(_starts_at, Unset):
            starts_at = UNSET
        else:
            starts_at = datetime.datetime.fromisoformat(_starts_at)

        _expires_at = d.pop("expires_at", UNSET)
        expires_at: datetime.datetime | Unset
        if isinstance(_expires_at, Unset):
            expires_at = UNSET
        else:
            expires_at = datetime.datetime.fromisoformat(_expires_at)

        expires_minutes = d.pop("expires_minutes", UNSET)

        reservation_create = cls(
            gpu_count=gpu_count,
            gpu_type=gpu_type,
            node_count=node_count,
            cpu=cpu,
            memory_gb=memory_gb,
            starts_at=starts_at,
            expires_at=expires_at,
            expires_minutes=expires_minutes,
        )

        return reservation_create
