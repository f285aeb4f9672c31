from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.sweep import Sweep
from ...models.sweep_create import SweepCreate
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: SweepCreate,
    idempotency_key: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/sweeps",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorResponse | Sweep | None:
    if response.status_code == 201:
        response_201 = Sweep.from_dict(response.json())

        return response_201

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

    if response.status_code == 409:
        response_409 = ErrorResponse.from_dict(response.json())

        return response_409

    if response.status_code == 413:
        response_413 = ErrorResponse.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = ErrorResponse.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = ErrorResponse.from_dict(response.json())

        return response_422

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
    *,
    client: AuthenticatedClient | Client,
    body: SweepCreate,
    idempotency_key: str | Unset = UNSET,
) -> Response[ErrorResponse | Sweep]:
    """Start a parameter sweep

     Queues one task per variation and repeat, all in one transaction (all or nothing, at most 10,000
    tasks). Variations come from `grid` (the cartesian product of its value lists, first parameter
    varying slowest) or from `variations` (an explicit list). A catalog model run (`task.model_id`) gets
    each variation's values in its `inputs`; every swept parameter must be one the model reads. A
    command
    (`task.entrypoint`) gets them through `{name}` placeholders in `task.args` and in `task.env` values
    (`{{` and `}}` stand for literal braces); a placeholder that names no parameter, or a parameter that
    no placeholder uses, is a 422. Each task's seed is derived from the sweep's seed, the variation
    index
    and the trial. With an `Idempotency-Key` header a repeat of the same body returns the first sweep,
    and a different body under the same key is a 409.

    Args:
        idempotency_key (str | Unset):
        body (SweepCreate): A task template and the variations to run it with: give exactly one of
            `grid` or `variations`.
            The sweep has (number of variations) × `repeats` tasks, at most 10,000.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | Sweep]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    body: SweepCreate,
    idempotency_key: str | Unset = UNSET,
) -> ErrorResponse | Sweep | None:
    """Start a parameter sweep

     Queues one task per variation and repeat, all in one transaction (all or nothing, at most 10,000
    tasks). Variations come from `grid` (the cartesian product of its value lists, first parameter
    varying slowest) or from `variations` (an explicit list). A catalog model run (`task.model_id`) gets
    each variation's values in its `inputs`; every swept parameter must be one the model reads. A
    command
    (`task.entrypoint`) gets them through `{name}` placeholders in `task.args` and in `task.env` values
    (`{{` and `}}` stand for literal braces); a placeholder that names no parameter, or a parameter that
    no placeholder uses, is a 422. Each task's seed is derived from the sweep's seed, the variation
    index
    and the trial. With an `Idempotency-Key` header a repeat of the same body returns the first sweep,
    and a different body under the same key is a 409.

    Args:
        idempotency_key (str | Unset):
        body (SweepCreate): A task template and the variations to run it with: give exactly one of
            `grid` or `variations`.
            The sweep has (number of variations) × `repeats` tasks, at most 10,000.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | Sweep
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: SweepCreate,
    idempotency_key: str | Unset = UNSET,
) -> Response[ErrorResponse | Sweep]:
    """Start a parameter sweep

     Queues one task per variation and repeat, all in one transaction (all or nothing, at most 10,000
    tasks). Variations come from `grid` (the cartesian product of its value lists, first parameter
    varying slowest) or from `variations` (an explicit list). A catalog model run (`task.model_id`) gets
    each variation's values in its `inputs`; every swept parameter must be one the model reads. A
    command
    (`task.entrypoint`) gets them through `{name}` placeholders in `task.args` and in `task.env` values
    (`{{` and `}}` stand for literal braces); a placeholder that names no parameter, or a parameter that
    no placeholder uses, is a 422. Each task's seed is derived from the sweep's seed, the variation
    index
    and the trial. With an `Idempotency-Key` header a repeat of the same body returns the first sweep,
    and a different body under the same key is a 409.

    Args:
        idempotency_key (str | Unset):
        body (SweepCreate): A task template and the variations to run it with: give exactly one of
            `grid` or `variations`.
            The sweep has (number of variations) × `repeats` tasks, at most 10,000.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | Sweep]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    body: SweepCreate,
    idempotency_key: str | Unset = UNSET,
) -> ErrorResponse | Sweep | None:
    """Start a parameter sweep

     Queues one task per variation and repeat, all in one transaction (all or nothing, at most 10,000
    tasks). Variations come from `grid` (the cartesian product of its value lists, first parameter
    varying slowest) or from `variations` (an explicit list). A catalog model run (`task.model_id`) gets
    each variation's values in its `inputs`; every swept parameter must be one the model reads. A
    command
    (`task.entrypoint`) gets them through `{name}` placeholders in `task.args` and in `task.env` values
    (`{{` and `}}` stand for literal braces); a placeholder that names no parameter, or a parameter that
    no placeholder uses, is a 422. Each task's seed is derived from the sweep's seed, the variation
    index
    and the trial. With an `Idempotency-Key` header a repeat of the same body returns the first sweep,
    and a different body under the same key is a 409.

    Args:
        idempotency_key (str | Unset):
        body (SweepCreate): A task template and the variations to run it with: give exactly one of
            `grid` or `variations`.
            The sweep has (number of variations) × `repeats` tasks, at most 10,000.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | Sweep
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
