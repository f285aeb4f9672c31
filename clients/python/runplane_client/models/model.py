from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.parameter_grid import ParameterGrid


T = TypeVar("T", bound="Model")


@_attrs_define
class Model:
    """
    Attributes:
        id (str): The id of a catalog model.
        name (str):
        description (str):
        params (ParameterGrid): Each parameter's allowed values.
    """

    id: str
    name: str
    description: str
    params: ParameterGrid

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        name = self.name

        description = self.description

        params = self.params.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "name": name,
                "description": description,
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

        description = d.pop("description")

        params = ParameterGrid.from_dict(d.pop("params"))

        model = cls(
            id=id,
            name=name,
            description=description,
            params=params,
        )

        return model
