from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.artifact import Artifact


T = TypeVar("T", bound="ArtifactList")


@_attrs_define
class ArtifactList:
    """
    Attributes:
        task_id (str): An opaque identifier.
        artifacts (list[Artifact]):
        total (int):
    """

    task_id: str
    artifacts: list[Artifact]
    total: int

    def to_dict(self) -> dict[str, Any]:
        task_id = self.task_id

        artifacts = []
        for artifacts_item_data in self.artifacts:
            artifacts_item = artifacts_item_data.to_dict()
            artifacts.append(artifacts_item)

        total = self.total

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "task_id": task_id,
                "artifacts": artifacts,
                "total": total,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.artifact import Artifact  # noqa: PLC0415

        d = dict(src_dict)
        task_id = d.pop("task_id")

        artifacts = []
        _artifacts = d.pop("artifacts")
        for artifacts_item_data in _artifacts:
            artifacts_item = Artifact.from_dict(artifacts_item_data)

            artifacts.append(artifacts_item)

        total = d.pop("total")

        artifact_list = cls(
            task_id=task_id,
            artifacts=artifacts,
            total=total,
        )

        return artifact_list
