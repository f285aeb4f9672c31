from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..models.experiment_status import ExperimentStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.metadata import Metadata


T = TypeVar("T", bound="ExperimentUpdate")


@_attrs_define
class ExperimentUpdate:
    """
    Attributes:
        name (str | Unset):
        description (str | Unset):
        commit_id (str | Unset):
        status (ExperimentStatus | Unset):
        metadata (Metadata | Unset): Free-form labels.
    """

    name: str | Unset = UNSET
    description: str | Unset = UNSET
    commit_id: str | Unset = UNSET
    status: ExperimentStatus | Unset = UNSET
    metadata: Metadata | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        description = self.description

        commit_id = self.commit_id

        status: str | Unset = UNSET
        if not isinstance(self.status, Unset):
            status = self.status.value

        metadata: dict[str, Any] | Unset = UNSET
        if not isinstance(self.metadata, Unset):
            metadata = self.metadata.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if name is not UNSET:
            field_dict["name"] = name
        if description is not UNSET:
            field_dict["description"] = description
        if commit_id is not UNSET:
            field_dict["commit_id"] = commit_id
        if status is not UNSET:
            field_dict["status"] = status
        if metadata is not UNSET:
            field_dict["metadata"] = metadata

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.metadata import Metadata  # noqa: PLC0415

        d = dict(src_dict)
        name = d.pop("name", UNSET)

        description = d.pop("description", UNSET)

        commit_id = d.pop("commit_id", UNSET)

        _status = d.pop("status", UNSET)
        status: ExperimentStatus | Unset
        if isinstance(_status, Unset):
            status = UNSET
        else:
            status = ExperimentStatus(_status)

        _metadata = d.pop("metadata", UNSET)
        metadata: Metadata | Unset
        if isinstance(_metadata, Unset):
            metadata = UNSET
        else:
            metadata = Metadata.from_dict(_metadata)

        experiment_update = cls(
            name=name,
            description=description,
            commit_id=commit_id,
            status=status,
            metadata=metadata,
        )

        return experiment_update
