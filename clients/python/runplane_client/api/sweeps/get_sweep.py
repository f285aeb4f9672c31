from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.sweep import Sweep
from ...models.sweep_goal import SweepGoal
from ...types import UNSET, Response, Unset


def _get_kwargs(
    sweep_id: str,
    *,
    metric: str | Unset = UNSET,
    goal: SweepGoal | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["metric"] = metric

    json_goal: str | Unset = UNSET
    if not isinstance(goal, Unset):
        json_goal = goal.value

    params["goal"] = json_goal

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/sweeps/{sweep_id}".format(
            sweep_id=quote(str(sweep_id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorResponse | Sweep | None:
    if response.status_code == 200:
        response_200 = Sweep.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = ErrorResponse.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorResponse.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorResponse.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = ErrorResponse.from_dict(response.json())

        return response_404

    if response.status_code == 429:
        response_429 = ErrorResponse.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = ErrorResponse.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = ErrorResponse.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorResponse | Sweep]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    sweep_id: str,
    *,
    client: AuthenticatedClient | Client,
    metric: str | Unset = UNSET,
    goal: SweepGoal | Unset = UNSET,
) -> Response[ErrorResponse | Sweep]:
    """Get a sweep

     Its tasks counted by status, overall progress, and with `metric` the best trial: the completed task
    whose results' `summary` holds the lowest (`goal=min`, the default) or highest (`goal=max`) number
    under that name.

    Args:
        sweep_id (str): An opaque identifier.
        metric (str | Unset): A key of a task's results `summary`.
        goal (SweepGoal | Unset): `min` when lower values of the metric are better, `max` when
            higher are.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | Sweep]
    """

    kwargs = _get_kwargs(
        sweep_id=sweep_id,
        metric=metric,
        goal=goal,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    sweep_id: str,
    *,
    client: AuthenticatedClient | Client,
    metric: str | Unset = UNSET,
    goal: SweepGoal | Unset = UNSET,
) -> ErrorResponse | Sweep | None:
    """Get a sweep

     Its tasks counted by status, overall progress, and with `metric` the best trial: the completed task
    whose results' `summary` holds the lowest (`goal=min`, the default) or highest (`goal=max`) number
    under that name.

    Args:
        sweep_id (str): An opaque identifier.
        metric (str | Unset): A key of a task's results `summary`.
        goal (SweepGoal | Unset): `min` when lower values of the metric are better, `max` when
            higher are.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | Sweep
    """

    return sync_detailed(
        sweep_id=sweep_id,
        client=client,
        metric=metric,
        goal=goal,
    ).parsed


async def asyncio_detailed(
    sweep_id: str,
    *,
    client: AuthenticatedClient | Client,
    metric: str | Unset = UNSET,
    goal: SweepGoal | Unset = UNSET,
) -> Response[ErrorResponse | Sweep]:
    """Get a sweep

     Its tasks counted by status, overall progress, and with `metric` the best trial: the completed task
    whose results' `summary` holds the lowest (`goal=min`, the default) or highest (`goal=max`) number
    under that name.

    Args:
        sweep_id (str): An opaque identifier.
        metric (str | Unset): A key of a task's results `summary`.
        goal (SweepGoal | Unset): `min` when lower values of the metric are better, `max` when
            higher are.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | Sweep]
    """

    kwargs = _get_kwargs(
        sweep_id=sweep_id,
        metric=metric,
        goal=goal,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    sweep_id: str,
    *,
    client: AuthenticatedClient | Client,
    metric: str | Unset = UNSET,
    goal: SweepGoal | Unset = UNSET,
) -> ErrorResponse | Sweep | None:
    """Get a sweep

     Its tasks counted by status, overall progress, and with `metric` the best trial: the completed task
    whose results' `summary` holds the lowest (`goal=min`, the default) or highest (`goal=max`) number
    under that name.

    Args:
        sweep_id (str): An opaque identifier.
        metric (str | Unset): A key of a task's results `summary`.
        goal (SweepGoal | Unset): `min` when lower values of the metric are better, `max` when
            higher are.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | Sweep
    """

    return (
        await asyncio_detailed(
            sweep_id=sweep_id,
            client=client,
            metric=metric,
            goal=goal,
        )
    ).parsed
