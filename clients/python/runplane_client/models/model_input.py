from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="ModelInput")


@_attrs_define
class ModelInput:
    """One input a model reads, and what it does with it.

    Attributes:
        name (str):
        description (str):
        values (list[float | int | str] | Unset): The values it takes; absent when the description says which.
    """

    name: str
    description: str
    values: list[float | int | str] | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        description = self.description

        values: list[float | int | str] | Unset = UNSET
        if not isinstance(self.values, Unset):
            values = []
            for values_item_data in self.values:
                values_item: float | int | str
                values_item = values_item_data
                values.append(values_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "description": description,
            }
        )
        if values is not UNSET:
            field_dict["values"] = values

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        description = d.pop("description")

        _values = d.pop("values", UNSET)
        values: list[float | int | str] | Unset = UNSET
        if _values is not UNSET:
            values = []
            for values_item_data in _values:

                def _parse_values_item(data: object) -> float | int | str:
                    return cast(float | int | str, data)

                values_item = _parse_values_item(values_item_data)

                values.append(values_item)

        model_input = cls(
            name=name,
            description=description,
            values=values,
        )

        return model_input
