from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.parameter_grid import ParameterGrid


T = TypeVar("T", bound="RunnerModel")


@_attrs_define
class RunnerModel:
    """
    Attributes:
        id (str): The id of a catalog model.
        name (str):
        params (ParameterGrid): Each parameter's allowed values.
    """

    id: str
    name: str
    params: ParameterGrid

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        name = self.name

        params = self.params.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "name": name,
                "params": params,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.parameter_grid import ParameterGrid  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        name = d.pop("name")

        params = ParameterGrid.from_dict(d.pop("params"))

        runner_model = cls(
            id=id,
            name=name,
            params=params,
        )

        return runner_model
