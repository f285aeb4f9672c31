from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.model_input import ModelInput
    from ..models.parameter_grid import ParameterGrid


T = TypeVar("T", bound="Model")


@_attrs_define
class Model:
    """
    Attributes:
        id (str): The id of a catalog model.
        name (str):
        description (str):
        params (ParameterGrid): Each parameter's allowed values, with their own types (`max_depth` 3, `alpha` 1.0).
        inputs (list[ModelInput]): Every input the model reads: the one list /v1/tasks, /v1/sweeps (a swept parameter
            must be one of
            them) and /api/runs accept; a run with any other input is refused (422).
    """

    id: str
    name: str
    description: str
    params: ParameterGrid
    inputs: list[ModelInput]

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        name = self.name

        description = self.description

        params = self.params.to_dict()

        inputs = []
        for componentsschemas_model_input_list_item_data in self.inputs:
            componentsschemas_model_input_list_item = componentsschemas_model_input_list_item_data.to_dict()
            inputs.append(componentsschemas_model_input_list_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "name": name,
                "description": description,
                "params": params,
                "inputs": inputs,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.model_input import ModelInput  # noqa: PLC0415
        from ..models.parameter_grid import ParameterGrid  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        name = d.pop("name")

        description = d.pop("description")

        params = ParameterGrid.from_dict(d.pop("params"))

        inputs = []
        _inputs = d.pop("inputs")
        for componentsschemas_model_input_list_item_data in _inputs:
            componentsschemas_model_input_list_item = ModelInput.from_dict(componentsschemas_model_input_list_item_data)

            inputs.append(componentsschemas_model_input_list_item)

        model = cls(
            id=id,
            name=name,
            description=description,
            params=params,
            inputs=inputs,
        )

        return model
