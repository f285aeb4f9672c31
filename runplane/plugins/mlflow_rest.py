"""The few MLflow REST calls runplane makes (API 2.0): find or create an experiment, create and end a run.

https://mlflow.org/docs/latest/rest-api.html. Errors come back as :class:`MlflowError` with a message fit
for a task's `plugin_status` (no credentials: they travel in headers, never in the text).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx


class MlflowError(RuntimeError):
    """MLflow could not be reached or refused a call; the message names the call and the status."""


def auth_headers(settings: Mapping[str, Any]) -> dict[str, str]:
    """Bearer token, or HTTP basic credentials, as the mlflow client sends them."""
    if settings.get("token"):
        return {"Authorization": f"Bearer {settings['token']}"}
    if settings.get("username") and settings.get("password"):
        credentials = httpx.BasicAuth(str(settings["username"]), str(settings["password"]))
        request = next(credentials.auth_flow(httpx.Request("GET", "http://x")))
        return {"Authorization": request.headers["Authorization"]}
    return {}


async def _call(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        return await client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise MlflowError(f"MLflow {path}: {type(exc).__name__}") from None


async def experiment_id(client: httpx.AsyncClient, name: str) -> str:
    """The id of experiment `name`, created when it does not exist yet (a concurrent creation is fine)."""
    for _ in range(2):
        found = await _call(
            client, "GET", "/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": name}
        )
        if found.status_code == 200:
            return str(found.json()["experiment"]["experiment_id"])
        if found.status_code != 404:
            raise MlflowError(f"MLflow experiments/get-by-name answered {found.status_code}")
        created = await _call(client, "POST", "/api/2.0/mlflow/experiments/create", json={"name": name})
        if created.status_code == 200:
            return str(created.json()["experiment_id"])
        if "RESOURCE_ALREADY_EXISTS" not in created.text:
            raise MlflowError(f"MLflow experiments/create answered {created.status_code}")
    raise MlflowError("MLflow experiment could not be found or created")


async def create_run(
    base_url: str, settings: Mapping[str, Any], *, experiment: str, run_name: str, tags: Mapping[str, str]
) -> tuple[str, str]:
    """Creates a run in `experiment` (found or created); returns ``(experiment_id, run_id)``."""
    async with httpx.AsyncClient(
        base_url=base_url.rstrip("/"), headers=auth_headers(settings), timeout=15.0
    ) as client:
        exp_id = await experiment_id(client, experiment)
        body = {
            "experiment_id": exp_id,
            "run_name": run_name,
            "start_time": int(time.time() * 1000),
            "tags": [{"key": key, "value": value} for key, value in tags.items()],
        }
        created = await _call(client, "POST", "/api/2.0/mlflow/runs/create", json=body)
        if created.status_code != 200:
            raise MlflowError(f"MLflow runs/create answered {created.status_code}")
        return exp_id, str(created.json()["run"]["info"]["run_id"])


class MlflowUnreachable(MlflowError):
    """MLflow did not answer, or answered 5xx: worth trying again later."""


async def end_run(
    base_url: str, settings: Mapping[str, Any], run_id: str, *, status: str, end_time_ms: int
) -> None:
    """Ends run `run_id` (``runs/update``): `status` is FINISHED, FAILED or KILLED, `end_time_ms` epoch ms.

    Raises :class:`MlflowUnreachable` when MLflow cannot be reached or answers 5xx (a later try may work),
    :class:`MlflowError` when it refuses the call (e.g. 404: the run is not on that server).
    """
    async with httpx.AsyncClient(
        base_url=base_url.rstrip("/"), headers=auth_headers(settings), timeout=15.0
    ) as client:
        try:
            answer = await client.post(
                "/api/2.0/mlflow/runs/update",
                json={"run_id": run_id, "status": status, "end_time": end_time_ms},
            )
        except httpx.HTTPError as exc:
            raise MlflowUnreachable(f"MLflow runs/update: {type(exc).__name__}") from None
    if answer.status_code >= 500:
        raise MlflowUnreachable(f"MLflow runs/update answered {answer.status_code}")
    if answer.status_code != 200:
        raise MlflowError(f"MLflow runs/update answered {answer.status_code}")
