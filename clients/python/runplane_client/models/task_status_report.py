from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..models.task_status import TaskStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.node_assignment import NodeAssignment
    from ..models.task_failure import TaskFailure


T = TypeVar("T", bound="TaskStatusReport")


@_attrs_define
class TaskStatusReport:
    """
    Attributes:
        task_id (str): An opaque identifier.
        status (TaskStatus): queued → preparing → running → collecting → completed | failed | cancelled.
        progress (float):
        updated_at (datetime.datetime):
        message (str | Unset):
        failure (TaskFailure | Unset): Why a task did not complete; absent while it has not failed.
        started_at (datetime.datetime | Unset):
        ended_at (datetime.datetime | Unset):
        node_assignments (list[NodeAssignment] | Unset): A multi-node task's parts (`node_count` > 1), rank 0 first:
            which worker runs each rank and how
            that part stands. Absent for a single-node task and while the task is queued.
    """

    task_id: str
    status: TaskStatus
    progress: float
    updated_at: datetime.datetime
    message: str | Unset = UNSET
    failure: TaskFailure | Unset = UNSET
    started_at: datetime.datetime | Unset = UNSET
    ended_at: datetime.datetime | Unset = UNSET
    node_assignments: list[NodeAssignment] | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        task_id = self.task_id

        status = self.status.value

        progress = self.progress

        updated_at = self.updated_at.isoformat()

        message = self.message

        failure: dict[str, Any] | Unset = UNSET
        if not isinstance(self.failure, Unset):
            failure = self.failure.to_dict()

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
                "task_id": task_id,
                "status": status,
                "progress": progress,
                "updated_at": updated_at,
            }
        )
        if message is not UNSET:
            field_dict["message"] = message
        if failure is not UNSET:
            field_dict["failure"] = failure
        if started_at is not UNSET:
            field_dict["started_at"] = started_at
        if ended_at is not UNSET:
            field_dict["ended_at"] = ended_at
        if node_assignments is not UNSET:
            field_dict["node_assignments"] = node_assignments

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.node_assignment import NodeAssignment  # noqa: PLC0415
        from ..models.task_failure import TaskFailure  # noqa: PLC0415

        d = dict(src_dict)
        task_id = d.pop("task_id")

        status = TaskStatus(d.pop("status"))

        progress = d.pop("progress")

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        message = d.pop("message", UNSET)

        _failure = d.pop("failure", UNSET)
        failure: TaskFailure | Unset
        if isinstance(_failure, Unset):
            failure = UNSET
        else:
            failure = TaskFailure.from_dict(_failure)

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

        task_status_report = cls(
            task_id=task_id,
            status=status,
            progress=progress,
            updated_at=updated_at,
            message=message,
            failure=failure,
            started_at=started_at,
            ended_at=ended_at,
            node_assignments=node_assignments,
        )

        return task_status_report
