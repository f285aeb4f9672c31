from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...types import UNSET, Response, Unset


def _get_kwargs(
    task_id: str,
    *,
    attempt: int | Unset = UNSET,
    rank: int | Unset = UNSET,
    tail: int | Unset = UNSET,
    follow: bool | Unset = False,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["attempt"] = attempt

    params["rank"] = rank

    params["tail"] = tail

    params["follow"] = follow

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/tasks/{task_id}/logs".format(
            task_id=quote(str(task_id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorResponse | str | None:
    if response.status_code == 200:
        response_200 = response.text
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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ErrorResponse | str]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    task_id: str,
    *,
    client: AuthenticatedClient | Client,
    attempt: int | Unset = UNSET,
    rank: int | Unset = UNSET,
    tail: int | Unset = UNSET,
    follow: bool | Unset = False,
) -> Response[ErrorResponse | str]:
    """Task log

     The task's stdout and stderr, secret values masked. `tail` keeps the last lines; `follow` streams
    new
    lines until the task ends.

    Args:
        task_id (str): An opaque identifier.
        attempt (int | Unset):
        rank (int | Unset):
        tail (int | Unset):
        follow (bool | Unset):  Default: False.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | str]
    """

    kwargs = _get_kwargs(
        task_id=task_id,
        attempt=attempt,
        rank=rank,
        tail=tail,
        follow=follow,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    task_id: str,
    *,
    client: AuthenticatedClient | Client,
    attempt: int | Unset = UNSET,
    rank: int | Unset = UNSET,
    tail: int | Unset = UNSET,
    follow: bool | Unset = False,
) -> ErrorResponse | str | None:
    """Task log

     The task's stdout and stderr, secret values masked. `tail` keeps the last lines; `follow` streams
    new
    lines until the task ends.

    Args:
        task_id (str): An opaque identifier.
        attempt (int | Unset):
        rank (int | Unset):
        tail (int | Unset):
        follow (bool | Unset):  Default: False.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | str
    """

    return sync_detailed(
        task_id=task_id,
        client=client,
        attempt=attempt,
        rank=rank,
        tail=tail,
        follow=follow,
    ).parsed


async def asyncio_detailed(
    task_id: str,
    *,
    client: AuthenticatedClient | Client,
    attempt: int | Unset = UNSET,
    rank: int | Unset = UNSET,
    tail: int | Unset = UNSET,
    follow: bool | Unset = False,
) -> Response[ErrorResponse | str]:
    """Task log

     The task's stdout and stderr, secret values masked. `tail` keeps the last lines; `follow` streams
    new
    lines until the task ends.

    Args:
        task_id (str): An opaque identifier.
        attempt (int | Unset):
        rank (int | Unset):
        tail (int | Unset):
        follow (bool | Unset):  Default: False.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | str]
    """

    kwargs = _get_kwargs(
        task_id=task_id,
        attempt=attempt,
        rank=rank,
        tail=tail,
        follow=follow,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    task_id: str,
    *,
    client: AuthenticatedClient | Client,
    attempt: int | Unset = UNSET,
    rank: int | Unset = UNSET,
    tail: int | Unset = UNSET,
    follow: bool | Unset = False,
) -> ErrorResponse | str | None:
    """Task log

     The task's stdout and stderr, secret values masked. `tail` keeps the last lines; `follow` streams
    new
    lines until the task ends.

    Args:
        task_id (str): An opaque identifier.
        attempt (int | Unset):
        rank (int | Unset):
        tail (int | Unset):
        follow (bool | Unset):  Default: False.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | str
    """

    return (
        await asyncio_detailed(
            task_id=task_id,
            client=client,
            attempt=attempt,
            rank=rank,
            tail=tail,
            follow=follow,
        )
    ).parsed
