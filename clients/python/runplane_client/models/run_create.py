from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.model_inputs import ModelInputs


T = TypeVar("T", bound="RunCreate")


@_attrs_define
class RunCreate:
    """
    Attributes:
        model_id (str): The id of a catalog model.
        inputs (ModelInputs): Free-form inputs of a model run (e.g. `region`, `year`, `parameter_set`); an input named
            after a model
            parameter must be one of that parameter's values.
    """

    model_id: str
    inputs: ModelInputs

    def to_dict(self) -> dict[str, Any]:
        model_id = self.model_id

        inputs = self.inputs.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "model_id": model_id,
                "inputs": inputs,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.model_inputs import ModelInputs  # noqa: PLC0415

        d = dict(src_dict)
        model_id = d.pop("model_id")

        inputs = ModelInputs.from_dict(d.pop("inputs"))

        run_create = cls(
            model_id=model_id,
            inputs=inputs,
        )

        return run_create
