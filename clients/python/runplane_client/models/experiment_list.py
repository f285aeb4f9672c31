from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.experiment import Experiment


T = TypeVar("T", bound="ExperimentList")


@_attrs_define
class ExperimentList:
    """
    Attributes:
        experiments (list[Experiment]):
        total (int):
        limit (int):
        offset (int):
    """

    experiments: list[Experiment]
    total: int
    limit: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        experiments = []
        for experiments_item_data in self.experiments:
            experiments_item = experiments_item_data.to_dict()
            experiments.append(experiments_item)

        total = self.total

        limit = self.limit

        offset = self.offset

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "experiments": experiments,
                "total": total,
                "limit": limit,
                "offset": offset,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.experiment import Experiment  # noqa: PLC0415

        d = dict(src_dict)
        experiments = []
        _experiments = d.pop("experiments")
        for experiments_item_data in _experiments:
            experiments_item = Experiment.from_dict(experiments_item_data)

            experiments.append(experiments_item)

        total = d.pop("total")

        limit = d.pop("limit")

        offset = d.pop("offset")

        experiment_list = cls(
            experiments=experiments,
            total=total,
            limit=limit,
            offset=offset,
        )

        return experiment_list
