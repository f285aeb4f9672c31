from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.claim_report_result import ClaimReportResult
    from ..models.task_assignment import TaskAssignment


T = TypeVar("T", bound="ClaimResult")


@_attrs_define
class ClaimResult:
    """A claim's answer; `assignment` is absent when nothing fits.

    Attributes:
        assignment (TaskAssignment | Unset): Everything a worker needs to run a task, secrets included (only workers
            ever see this); absent from a
            claim answer when nothing fits.
        assignments (list[TaskAssignment] | Unset): Every task assigned by this claim, best first (at most the claim's
            `max_tasks`); `assignment` is
            its first item, absent when it is empty. Present when the claim named `max_tasks` (absent for
            agents that do not know it, so their strict parsing of this answer keeps working).
        reports (list[ClaimReportResult] | Unset): One result per item of the claim's `reports`, in the same order.
            Present when the claim named
            `reports` (absent otherwise, for agents that parse this answer strictly).
    """

    assignment: TaskAssignment | Unset = UNSET
    assignments: list[TaskAssignment] | Unset = UNSET
    reports: list[ClaimReportResult] | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        assignment: dict[str, Any] | Unset = UNSET
        if not isinstance(self.assignment, Unset):
            assignment = self.assignment.to_dict()

        assignments: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.assignments, Unset):
            assignments = []
            for assignments_item_data in self.assignments:
                assignments_item = assignments_item_data.to_dict()
                assignments.append(assignments_item)

        reports: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.reports, Unset):
            reports = []
            for reports_item_data in self.reports:
                reports_item = reports_item_data.to_dict()
                reports.append(reports_item)

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if assignment is not UNSET:
            field_dict["assignment"] = assignment
        if assignments is not UNSET:
            field_dict["assignments"] = assignments
        if reports is not UNSET:
            field_dict["reports"] = reports

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.claim_report_result import ClaimReportResult  # noqa: PLC0415
        from ..models.task_assignment import TaskAssignment  # noqa: PLC0415

        d = dict(src_dict)
        _assignment = d.pop("assignment", UNSET)
        assignment: TaskAssignment | Unset
        if isinstance(_assignment, Unset):
            assignment = UNSET
        else:
            assignment = TaskAssignment.from_dict(_assignment)

        _assignments = d.pop("assignments", UNSET)
        assignments: list[TaskAssignment] | Unset = UNSET
        if _assignments is not UNSET:
            assignments = []
            for assignments_item_data in _assignments:
                assignments_item = TaskAssignment.from_dict(assignments_item_data)

                assignments.append(assignments_item)

        _reports = d.pop("reports", UNSET)
        reports: list[ClaimReportResult] | Unset = UNSET
        if _reports is not UNSET:
            reports = []
            for reports_item_data in _reports:
                reports_item = ClaimReportResult.from_dict(reports_item_data)

                reports.append(reports_item)

        claim_result = cls(
            assignment=assignment,
            assignments=assignments,
            reports=reports,
        )

        return claim_result
