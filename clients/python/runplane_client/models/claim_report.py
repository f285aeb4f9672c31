from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.task_report import TaskReport


T = TypeVar("T", bound="ClaimReport")


@_attrs_define
class ClaimReport:
    """One task's report carried by a claim (what the report operation's body would be).

    Attributes:
        task_id (str): An opaque identifier.
        report (TaskReport):
    """

    task_id: str
    report: TaskReport

    def to_dict(self) -> dict[str, Any]:
        task_id = self.task_id

        report = self.report.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "task_id": task_id,
                "report": report,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.task_report import TaskReport  # noqa: PLC0415

        d = dict(src_dict)
        task_id = d.pop("task_id")

        report = TaskReport.from_dict(d.pop("report"))

        claim_report = cls(
            task_id=task_id,
            report=report,
        )

        return claim_report
