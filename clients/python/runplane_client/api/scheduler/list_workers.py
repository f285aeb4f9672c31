from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.worker_list import WorkerList
from ...models.worker_status import WorkerStatus
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    status: WorkerStatus | Unset = UNSET,
    include_replaced: bool | Unset = False,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_status: str | Unset = UNSET
    if not isinstance(status, Unset):
        json_status = status.value

    params["status"] = json_status

    params["include_replaced"] = include_replaced

    params["limit"] = limit

    params["offset"] = offset

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/scheduler/workers",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | WorkerList | None:
    if response.status_code == 200:
        response_200 = WorkerList.from_dict(response.json())

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
) -> Response[ErrorResponse | WorkerList]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    status: WorkerStatus | Unset = UNSET,
    include_replaced: bool | Unset = False,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
) -> Response[ErrorResponse | WorkerList]:
    """List workers

     Workers with their capabilities, slots, active tasks, last heartbeat and state, newest registration
    first. An agent that restarts registers again under a new worker id; its earlier registration (same
    user, name and hostname), once offline, is *replaced* and left out of this list (and of the
    scheduler status counts) unless `include_replaced` is true. A replaced worker stays readable by its
    id (`GET /v1/scheduler/workers/{workerId}`, with `replaced_by`): tasks, events and audit entries
    keep naming it.

    Args:
        status (WorkerStatus | Unset):
        include_replaced (bool | Unset):  Default: False.
        limit (int | Unset):  Default: 50.
        offset (int | Unset):  Default: 0.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | WorkerList]
    """

    kwargs = _get_kwargs(
        status=status,
        include_replaced=include_replaced,
        limit=limit,
        offset=offset,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    status: WorkerStatus | Unset = UNSET,
    include_replaced: bool | Unset = False,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
) -> ErrorResponse | WorkerList | None:
    """List workers

     Workers with their capabilities, slots, active tasks, last heartbeat and state, newest registration
    first. An agent that restarts registers again under a new worker id; its earlier registration (same
    user, name and hostname), once offline, is *replaced* and left out of this list (and of the
    scheduler status counts) unless `include_replaced` is true. A replaced worker stays readable by its
    id (`GET /v1/scheduler/workers/{workerId}`, with `replaced_by`): tasks, events and audit entries
    keep naming it.

    Args:
        status (WorkerStatus | Unset):
        include_replaced (bool | Unset):  Default: False.
        limit (int | Unset):  Default: 50.
        offset (int | Unset):  Default: 0.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | WorkerList
    """

    return sync_detailed(
        client=client,
        status=status,
        include_replaced=include_replaced,
        limit=limit,
        offset=offset,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    status: WorkerStatus | Unset = UNSET,
    include_replaced: bool | Unset = False,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
) -> Response[ErrorResponse | WorkerList]:
    """List workers

     Workers with their capabilities, slots, active tasks, last heartbeat and state, newest registration
    first. An agent that restarts registers again under a new worker id; its earlier registration (same
    user, name and hostname), once offline, is *replaced* and left out of this list (and of the
    scheduler status counts) unless `include_replaced` is true. A replaced worker stays readable by its
    id (`GET /v1/scheduler/workers/{workerId}`, with `replaced_by`): tasks, events and audit entries
    keep naming it.

    Args:
        status (WorkerStatus | Unset):
        include_replaced (bool | Unset):  Default: False.
        limit (int | Unset):  Default: 50.
        offset (int | Unset):  Default: 0.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | WorkerList]
    """

    kwargs = _get_kwargs(
        status=status,
        include_replaced=include_replaced,
        limit=limit,
        offset=offset,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    status: WorkerStatus | Unset = UNSET,
    include_replaced: bool | Unset = False,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
) -> ErrorResponse | WorkerList | None:
    """List workers

     Workers with their capabilities, slots, active tasks, last heartbeat and state, newest registration
    first. An agent that restarts registers again under a new worker id; its earlier registration (same
    user, name and hostname), once offline, is *replaced* and left out of this list (and of the
    scheduler status counts) unless `include_replaced` is true. A replaced worker stays readable by its
    id (`GET /v1/scheduler/workers/{workerId}`, with `replaced_by`): tasks, events and audit entries
    keep naming it.

    Args:
        status (WorkerStatus | Unset):
        include_replaced (bool | Unset):  Default: False.
        limit (int | Unset):  Default: 50.
        offset (int | Unset):  Default: 0.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | WorkerList
    """

    return (
        await asyncio_detailed(
            client=client,
            status=status,
            include_replaced=include_replaced,
            limit=limit,
            offset=offset,
        )
    ).parsed
