"""The model catalog: /v1/models and /v1/models/{modelId}."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import auth
from tests.support.errors import assert_error

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

GRIDS: dict[str, tuple[str, dict[str, list[Any]]]] = {
    "linear_reg": ("Linear Regression", {"alpha": [0.1, 1.0, 10.0]}),
    "xgb_forecast": ("XGBoost Forecast", {"max_depth": [3, 5, 7]}),
    "simulator": ("Monte Carlo Simulator", {"trials": [100, 1000, 10000]}),
}


async def test_the_catalog_lists_the_three_models_with_their_grids(client, user_key):
    response = await client.get("/v1/models", headers=auth(user_key))
    assert response.status_code == 200
    models = response.json()["models"]
    assert [model["id"] for model in models] == list(GRIDS)
    for model in models:
        name, params = GRIDS[model["id"]]
        assert model["name"] == name
        assert model["params"] == params
        assert set(model) == {"id", "name", "description", "params", "inputs"}
        assert {item["name"] for item in model["inputs"]} == {
            *params,
            "parameter_set",
            "region",
            "year",
            "seed",
        }
        assert model["description"]


@pytest.mark.parametrize("model_id", list(GRIDS))
async def test_a_model_by_id(client, user_key, model_id):
    response = await client.get(f"/v1/models/{model_id}", headers=auth(user_key))
    assert response.status_code == 200
    model = response.json()
    assert (model["id"], model["name"], model["params"]) == (model_id, *GRIDS[model_id])
    listed = await client.get("/v1/models", headers=auth(user_key))
    assert model in listed.json()["models"]


async def test_an_unknown_model_is_404(client, user_key):
    response = await client.get("/v1/models/resnet", headers=auth(user_key))
    assert_error(response, 404, "NOT_FOUND", "Model not found", {"model_id": "resnet"})


async def test_a_malformed_model_id_is_400(client, user_key):
    response = await client.get("/v1/models/Not-A-Model", headers=auth(user_key))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["details"] == {"field": "modelId", "in": "path"}


async def test_admins_see_the_catalog_and_workers_do_not(client, admin_key, worker_key):
    assert (await client.get("/v1/models", headers=auth(admin_key))).status_code == 200
    response = await client.get("/v1/models", headers=auth(worker_key))
    assert_error(
        response, 403, "FORBIDDEN", "This operation needs the admin or user role", {"role": "worker"}
    )


async def test_the_catalog_needs_a_key(client):
    response = await client.get("/v1/models")
    assert_error(response, 401, "UNAUTHORIZED", "No authorization token provided")
