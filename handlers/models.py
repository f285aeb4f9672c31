"""Operations of the Models tag: the catalog of runnable models."""

from __future__ import annotations

from typing import Any

from generated.models import Model, ModelList
from handlers import presenters
from runplane.catalog import CATALOG
from runplane.catalog import get_model as catalog_model
from runplane.errors import NotFound

Answer = tuple[dict[str, Any], int]


async def list_models(token_info: dict[str, Any]) -> Answer:
    models = [Model.model_validate(spec.as_dict()) for spec in CATALOG.values()]
    return presenters.dump(ModelList(models=models)), 200


async def get_model(model_id: str, token_info: dict[str, Any]) -> Answer:
    spec = catalog_model(model_id)
    if spec is None:
        raise NotFound("Model not found", details={"model_id": model_id})
    return presenters.dump(Model.model_validate(spec.as_dict())), 200
