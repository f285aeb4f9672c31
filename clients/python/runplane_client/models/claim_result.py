from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.task_assignment_type_0 import TaskAssignmentType0


T = TypeVar("T", bound="ClaimResult")


@_attrs_define
class ClaimResult:
    """
    Attributes:
        assignment (None | TaskAssignmentType0): Everything a worker needs to run a task, secrets included (only workers
            ever see this); null in a
            claim answer when nothing fits.
    """

    assignment: None | TaskAssignmentType0

    def to_dict(self) -> dict[str, Any]:
        from ..models.task_assignment_type_0 import TaskAssignmentType0  # noqa: PLC0415

        assignment: dict[str, Any] | None
        if isinstance(self.assignment, TaskAssignmentType0):
            assignment = self.assignment.to_dict()
        else:
            assignment = self.assignment

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "assignment": assignment,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.task_assignment_type_0 import TaskAssignmentType0  # noqa: PLC0415

        d = dict(src_dict)

        def _parse_assignment(data: object) -> None | TaskAssignmentType0:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_task_assignment_type_0 = TaskAssignmentType0.from_dict(data)

                return componentsschemas_task_assignment_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | TaskAssignmentType0, data)

        assignment = _parse_assignment(d.pop("assignment"))

        claim_result = cls(
            assignment=assignment,
        )

        return claim_result
