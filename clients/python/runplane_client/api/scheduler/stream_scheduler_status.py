from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.server_sent_event import ServerSentEvent
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    last_event_id: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(last_event_id, Unset):
        headers["Last-Event-ID"] = last_event_id

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/scheduler/status/stream",
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | ServerSentEvent | None:
    if response.status_code == 200:
        response_200 = ServerSentEvent.from_dict(response.text)

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
) -> Response[ErrorResponse | ServerSentEvent]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    last_event_id: str | Unset = UNSET,
) -> Response[ErrorResponse | ServerSentEvent]:
    """Scheduler events (SSE)

     A Server-Sent Events stream of queue, worker and task events: named events (`task_update`,
    `task_progress`, `task_complete`, `worker_status`, `queue_stats`), JSON `data` (see the schemas
    `StreamEvent` and its payloads), an `id:` line on each, and `:` keep-alive comments. Reconnect with
    `Last-Event-ID` to resume without loss or duplicates. Users receive only their own tasks' events.

    Args:
        last_event_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | ServerSentEvent]
    """

    kwargs = _get_kwargs(
        last_event_id=last_event_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    last_event_id: str | Unset = UNSET,
) -> ErrorResponse | ServerSentEvent | None:
    """Scheduler events (SSE)

     A Server-Sent Events stream of queue, worker and task events: named events (`task_update`,
    `task_progress`, `task_complete`, `worker_status`, `queue_stats`), JSON `data` (see the schemas
    `StreamEvent` and its payloads), an `id:` line on each, and `:` keep-alive comments. Reconnect with
    `Last-Event-ID` to resume without loss or duplicates. Users receive only their own tasks' events.

    Args:
        last_event_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | ServerSentEvent
    """

    return sync_detailed(
        client=client,
        last_event_id=last_event_id,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    last_event_id: str | Unset = UNSET,
) -> Response[ErrorResponse | ServerSentEvent]:
    """Scheduler events (SSE)

     A Server-Sent Events stream of queue, worker and task events: named events (`task_update`,
    `task_progress`, `task_complete`, `worker_status`, `queue_stats`), JSON `data` (see the schemas
    `StreamEvent` and its payloads), an `id:` line on each, and `:` keep-alive comments. Reconnect with
    `Last-Event-ID` to resume without loss or duplicates. Users receive only their own tasks' events.

    Args:
        last_event_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | ServerSentEvent]
    """

    kwargs = _get_kwargs(
        last_event_id=last_event_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    last_event_id: str | Unset = UNSET,
) -> ErrorResponse | ServerSentEvent | None:
    """Scheduler events (SSE)

     A Server-Sent Events stream of queue, worker and task events: named events (`task_update`,
    `task_progress`, `task_complete`, `worker_status`, `queue_stats`), JSON `data` (see the schemas
    `StreamEvent` and its payloads), an `id:` line on each, and `:` keep-alive comments. Reconnect with
    `Last-Event-ID` to resume without loss or duplicates. Users receive only their own tasks' events.

    Args:
        last_event_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | ServerSentEvent
    """

    return (
        await asyncio_detailed(
            client=client,
            last_event_id=last_event_id,
        )
    ).parsed
