from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.experiment_status import ExperimentStatus

if TYPE_CHECKING:
    from ..models.metadata import Metadata


T = TypeVar("T", bound="Experiment")


@_attrs_define
class Experiment:
    """
    Attributes:
        id (str): An opaque identifier.
        name (str):
        description (None | str):
        commit_id (None | str):
        status (ExperimentStatus):
        user_id (str): The user a key acts for.
        metadata (Metadata): Free-form labels.
        task_count (int):
        created_at (datetime.datetime):
        updated_at (datetime.datetime):
    """

    id: str
    name: str
    description: None | str
    commit_id: None | str
    status: ExperimentStatus
    user_id: str
    metadata: Metadata
    task_count: int
    created_at: datetime.datetime
    updated_at: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        name = self.name

        description: None | str
        description = self.description

        commit_id: None | str
        commit_id = self.commit_id

        status = self.status.value

        user_id = self.user_id

        metadata = self.metadata.to_dict()

        task_count = self.task_count

        created_at = self.created_at.isoformat()

        updated_at = self.updated_at.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "name": name,
                "description": description,
                "commit_id": commit_id,
                "status": status,
                "user_id": user_id,
                "metadata": metadata,
                "task_count": task_count,
                "created_at": created_at,
                "updated_at": updated_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.metadata import Metadata  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        name = d.pop("name")

        def _parse_description(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        description = _parse_description(d.pop("description"))

        def _parse_commit_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        commit_id = _parse_commit_id(d.pop("commit_id"))

        status = ExperimentStatus(d.pop("status"))

        user_id = d.pop("user_id")

        metadata = Metadata.from_dict(d.pop("metadata"))

        task_count = d.pop("task_count")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        experiment = cls(
            id=id,
            name=name,
            description=description,
            commit_id=commit_id,
            status=status,
            user_id=user_id,
            metadata=metadata,
            task_count=task_count,
            created_at=created_at,
            updated_at=updated_at,
        )

        return experiment
