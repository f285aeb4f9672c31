from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.reservation_list import ReservationList
from ...models.reservation_status import ReservationStatus
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    status: ReservationStatus | Unset = UNSET,
    user_id: str | Unset = UNSET,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_status: str | Unset = UNSET
    if not isinstance(status, Unset):
        json_status = status.value

    params["status"] = json_status

    params["user_id"] = user_id

    params["limit"] = limit

    params["offset"] = offset

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/scheduler/reservations",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | ReservationList | None:
    if response.status_code == 200:
        response_200 = ReservationList.from_dict(response.json())

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
) -> Response[ErrorResponse | ReservationList]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    status: ReservationStatus | Unset = UNSET,
    user_id: str | Unset = UNSET,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
) -> Response[ErrorResponse | ReservationList]:
    """List reservations

     Capacity reservations, newest first: a user sees its own, an admin everyone's (optionally one
    user's with `user_id`).

    Args:
        status (ReservationStatus | Unset): `active`: holding its capacity (or waiting for
            `starts_at`); `claimed`: active with a task of it
            running; `expired`: `expires_at` has passed; `cancelled`: released by its owner or an
            admin.
        user_id (str | Unset): The user a key acts for.
        limit (int | Unset):  Default: 50.
        offset (int | Unset):  Default: 0.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | ReservationList]
    """

    kwargs = _get_kwargs(
        status=status,
        user_id=user_id,
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
    status: ReservationStatus | Unset = UNSET,
    user_id: str | Unset = UNSET,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
) -> ErrorResponse | ReservationList | None:
    """List reservations

     Capacity reservations, newest first: a user sees its own, an admin everyone's (optionally one
    user's with `user_id`).

    Args:
        status (ReservationStatus | Unset): `active`: holding its capacity (or waiting for
            `starts_at`); `claimed`: active with a task of it
            running; `expired`: `expires_at` has passed; `cancelled`: released by its owner or an
            admin.
        user_id (str | Unset): The user a key acts for.
        limit (int | Unset):  Default: 50.
        offset (int | Unset):  Default: 0.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | ReservationList
    """

    return sync_detailed(
        client=client,
        status=status,
        user_id=user_id,
        limit=limit,
        offset=offset,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    status: ReservationStatus | Unset = UNSET,
    user_id: str | Unset = UNSET,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
) -> Response[ErrorResponse | ReservationList]:
    """List reservations

     Capacity reservations, newest first: a user sees its own, an admin everyone's (optionally one
    user's with `user_id`).

    Args:
        status (ReservationStatus | Unset): `active`: holding its capacity (or waiting for
            `starts_at`); `claimed`: active with a task of it
            running; `expired`: `expires_at` has passed; `cancelled`: released by its owner or an
            admin.
        user_id (str | Unset): The user a key acts for.
        limit (int | Unset):  Default: 50.
        offset (int | Unset):  Default: 0.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | ReservationList]
    """

    kwargs = _get_kwargs(
        status=status,
        user_id=user_id,
        limit=limit,
        offset=offset,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    status: ReservationStatus | Unset = UNSET,
    user_id: str | Unset = UNSET,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
) -> ErrorResponse | ReservationList | None:
    """List reservations

     Capacity reservations, newest first: a user sees its own, an admin everyone's (optionally one
    user's with `user_id`).

    Args:
        status (ReservationStatus | Unset): `active`: holding its capacity (or waiting for
            `starts_at`); `claimed`: active with a task of it
            running; `expired`: `expires_at` has passed; `cancelled`: released by its owner or an
            admin.
        user_id (str | Unset): The user a key acts for.
        limit (int | Unset):  Default: 50.
        offset (int | Unset):  Default: 0.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | ReservationList
    """

    return (
        await asyncio_detailed(
            client=client,
            status=status,
            user_id=user_id,
            limit=limit,
            offset=offset,
        )
    ).parsed
