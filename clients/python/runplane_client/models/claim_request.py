from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.claim_report import ClaimReport


T = TypeVar("T", bound="ClaimRequest")


@_attrs_define
class ClaimRequest:
    """
    Attributes:
        free_slots (int):
        free_cpu (int):
        free_memory_gb (float):
        free_gpus (int):
        max_tasks (int | Unset): The most tasks to assign in this claim (all must fit together in what is free).
            Default: 1.
        wait_seconds (float | Unset): How long the server may hold the request when nothing can be assigned at once (a
            long poll):
            it answers as soon as a task it can assign is queued, or with no assignment when the wait ends.
            A server may hold it less (its own limit, 30 s by default).
             Default: 0.0.
        master_port (int | Unset): A TCP port free on this worker now. When this claim starts a multi-node task, the
            claiming
            worker is its rank 0 and this port is the task's `MASTER_PORT` (without it the server picks one
            from 29500-30499).
        reports (list[ClaimReport] | Unset): Reports of this worker's tasks to record before claiming (typically the
            ends of tasks that just
            ended), each task at most once; the answer's `reports` says how each went. A claim with reports
            does not wait (`wait_seconds` is taken as 0).
    """

    free_slots: int
    free_cpu: int
    free_memory_gb: float
    free_gpus: int
    max_tasks: int | Unset = 1
    wait_seconds: float | Unset = 0.0
    master_port: int | Unset = UNSET
    reports: list[ClaimReport] | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        free_slots = self.free_slots

        free_cpu = self.free_cpu

        free_memory_gb = self.free_memory_gb

        free_gpus = self.free_gpus

        max_tasks = self.max_tasks

        wait_seconds = self.wait_seconds

        master_port = self.master_port

        reports: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.reports, Unset):
            reports = []
            for reports_item_data in self.reports:
                reports_item = reports_item_data.to_dict()
                reports.append(reports_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "free_slots": free_slots,
                "free_cpu": free_cpu,
                "free_memory_gb": free_memory_gb,
                "free_gpus": free_gpus,
            }
        )
        if max_tasks is not UNSET:
            field_dict["max_tasks"] = max_tasks
        if wait_seconds is not UNSET:
            field_dict["wait_seconds"] = wait_seconds
        if master_port is not UNSET:
            field_dict["master_port"] = master_port
        if reports is not UNSET:
            field_dict["reports"] = reports

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.claim_report import ClaimReport  # noqa: PLC0415

        d = dict(src_dict)
        free_slots = d.pop("free_slots")

        free_cpu = d.pop("free_cpu")

        free_memory_gb = d.pop("free_memory_gb")

        free_gpus = d.pop("free_gpus")

        max_tasks = d.pop("max_tasks", UNSET)

        wait_seconds = d.pop("wait_seconds", UNSET)

        master_port = d.pop("master_port", UNSET)

        _reports = d.pop("reports", UNSET)
        reports: list[ClaimReport] | Unset = UNSET
        if _reports is not UNSET:
            reports = []
            for reports_item_data in _reports:
                reports_item = ClaimReport.from_dict(reports_item_data)

                reports.append(reports_item)

        claim_request = cls(
            free_slots=free_slots,
            free_cpu=free_cpu,
            free_memory_gb=free_memory_gb,
            free_gpus=free_gpus,
            max_tasks=max_tasks,
            wait_seconds=wait_seconds,
            master_port=master_port,
            reports=reports,
        )

        return claim_request
