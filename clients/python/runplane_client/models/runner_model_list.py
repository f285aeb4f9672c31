from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.runner_model import RunnerModel


T = TypeVar("T", bound="RunnerModelList")


@_attrs_define
class RunnerModelList:
    """
    Attributes:
        models (list[RunnerModel]):
    """

    models: list[RunnerModel]

    def to_dict(self) -> dict[str, Any]:
        models = []
        for models_item_data in self.models:
            models_item = models_item_data.to_dict()
            models.append(models_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "models": models,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.runner_model import RunnerModel  # noqa: PLC0415

        d = dict(src_dict)
        models = []
        _models = d.pop("models")
        for models_item_data in _models:
            models_item = RunnerModel.from_dict(models_item_data)

            models.append(models_item)

        runner_model_list = cls(
            models=models,
        )

        return runner_model_list
