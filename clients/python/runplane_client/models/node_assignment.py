from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.task_status import TaskStatus
from ..types import UNSET, Unset

T = TypeVar("T", bound="NodeAssignment")


@_attrs_define
class NodeAssignment:
    """One part of a multi-node task: rank `rank` runs on worker `worker_id` (one part per worker).
    `node_id` and `slot_assigned` are fetch_ml's names (`node_id` equals `rank`; a listed part always
    holds its slot). A part's `status` follows the task's (preparing, running, collecting, completed);
    when one part fails, the others are stopped and show `cancelled`.

        Attributes:
            rank (int):
            node_id (int):
            worker_id (str):
            slot_assigned (bool):
            status (TaskStatus): queued → preparing → running → collecting → completed | failed | cancelled.
            worker_name (str | Unset):
            address (str | Unset): The worker's address as registered (rank 0's is the part's `MASTER_ADDR`).
            exit_code (int | Unset):
            failure_reason (str | Unset): Why this part failed or was stopped (a `FailureReason`).
            message (str | Unset):
    """

    rank: int
    node_id: int
    worker_id: str
    slot_assigned: bool
    status: TaskStatus
    worker_name: str | Unset = UNSET
    address: str | Unset = UNSET
    exit_code: int | Unset = UNSET
    failure_reason: str | Unset = UNSET
    message: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        rank = self.rank

        node_id = self.node_id

        worker_id = self.worker_id

        slot_assigned = self.slot_assigned

        status = self.status.value

        worker_name = self.worker_name

        address = self.address

        exit_code = self.exit_code

        failure_reason = self.failure_reason

        message = self.message

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "rank": rank,
                "node_id": node_id,
                "worker_id": worker_id,
                "slot_assigned": slot_assigned,
                "status": status,
            }
        )
        if worker_name is not UNSET:
            field_dict["worker_name"] = worker_name
        if address is not UNSET:
            field_dict["address"] = address
        if exit_code is not UNSET:
            field_dict["exit_code"] = exit_code
        if failure_reason is not UNSET:
            field_dict["failure_reason"] = failure_reason
        if message is not UNSET:
            field_dict["message"] = message

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        rank = d.pop("rank")

        node_id = d.pop("node_id")

        worker_id = d.pop("worker_id")

        slot_assigned = d.pop("slot_assigned")

        status = TaskStatus(d.pop("status"))

        worker_name = d.pop("worker_name", UNSET)

        address = d.pop("address", UNSET)

        exit_code = d.pop("exit_code", UNSET)

        failure_reason = d.pop("failure_reason", UNSET)

        message = d.pop("message", UNSET)

        node_assignment = cls(
            rank=rank,
            node_id=node_id,
            worker_id=worker_id,
            slot_assigned=slot_assigned,
            status=status,
            worker_name=worker_name,
            address=address,
            exit_code=exit_code,
            failure_reason=failure_reason,
            message=message,
        )

        return node_assignment
