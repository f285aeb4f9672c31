from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.reservation import Reservation
from ...models.reservation_create import ReservationCreate
from ...types import Response


def _get_kwargs(
    *,
    body: ReservationCreate,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/scheduler/reservations",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | Reservation | None:
    if response.status_code == 201:
        response_201 = Reservation.from_dict(response.json())

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

    if response.status_code == 409:
        response_409 = ErrorResponse.from_dict(response.json())

        return response_409

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
) -> Response[ErrorResponse | Reservation]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: ReservationCreate,
) -> Response[ErrorResponse | Reservation]:
    """Reserve capacity

     Holds `gpu_count` GPUs (of `gpu_type`), `cpu` cores, `memory_gb` of memory and one task slot on
    each of `node_count` active workers, for the caller, from `starts_at` (default now) until
    `expires_at` (or `expires_minutes` from the start). The reservation is bound at once to specific
    workers that can hold this on top of what other reservations overlapping in time already hold
    there; when the registered fleet cannot, the answer is 409 and says which part is missing.
    While it is active, only the caller's tasks that name it (`reservation_id`) may use that capacity.
    A user (not an admin) is bounded by the server's settings: a reservation lasts at most
    `RUNPLANE_RESERVATION_MAX_MINUTES` (422 past it), and the user holds at most
    `RUNPLANE_RESERVATION_MAX_NODES` workers in reservations overlapping in time (409 past it); both
    answers name the setting. A reservation ending in the past is 422.

    Args:
        body (ReservationCreate):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | Reservation]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    body: ReservationCreate,
) -> ErrorResponse | Reservation | None:
    """Reserve capacity

     Holds `gpu_count` GPUs (of `gpu_type`), `cpu` cores, `memory_gb` of memory and one task slot on
    each of `node_count` active workers, for the caller, from `starts_at` (default now) until
    `expires_at` (or `expires_minutes` from the start). The reservation is bound at once to specific
    workers that can hold this on top of what other reservations overlapping in time already hold
    there; when the registered fleet cannot, the answer is 409 and says which part is missing.
    While it is active, only the caller's tasks that name it (`reservation_id`) may use that capacity.
    A user (not an admin) is bounded by the server's settings: a reservation lasts at most
    `RUNPLANE_RESERVATION_MAX_MINUTES` (422 past it), and the user holds at most
    `RUNPLANE_RESERVATION_MAX_NODES` workers in reservations overlapping in time (409 past it); both
    answers name the setting. A reservation ending in the past is 422.

    Args:
        body (ReservationCreate):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | Reservation
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: ReservationCreate,
) -> Response[ErrorResponse | Reservation]:
    """Reserve capacity

     Holds `gpu_count` GPUs (of `gpu_type`), `cpu` cores, `memory_gb` of memory and one task slot on
    each of `node_count` active workers, for the caller, from `starts_at` (default now) until
    `expires_at` (or `expires_minutes` from the start). The reservation is bound at once to specific
    workers that can hold this on top of what other reservations overlapping in time already hold
    there; when the registered fleet cannot, the answer is 409 and says which part is missing.
    While it is active, only the caller's tasks that name it (`reservation_id`) may use that capacity.
    A user (not an admin) is bounded by the server's settings: a reservation lasts at most
    `RUNPLANE_RESERVATION_MAX_MINUTES` (422 past it), and the user holds at most
    `RUNPLANE_RESERVATION_MAX_NODES` workers in reservations overlapping in time (409 past it); both
    answers name the setting. A reservation ending in the past is 422.

    Args:
        body (ReservationCreate):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | Reservation]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    body: ReservationCreate,
) -> ErrorResponse | Reservation | None:
    """Reserve capacity

     Holds `gpu_count` GPUs (of `gpu_type`), `cpu` cores, `memory_gb` of memory and one task slot on
    each of `node_count` active workers, for the caller, from `starts_at` (default now) until
    `expires_at` (or `expires_minutes` from the start). The reservation is bound at once to specific
    workers that can hold this on top of what other reservations overlapping in time already hold
    there; when the registered fleet cannot, the answer is 409 and says which part is missing.
    While it is active, only the caller's tasks that name it (`reservation_id`) may use that capacity.
    A user (not an admin) is bounded by the server's settings: a reservation lasts at most
    `RUNPLANE_RESERVATION_MAX_MINUTES` (422 past it), and the user holds at most
    `RUNPLANE_RESERVATION_MAX_NODES` workers in reservations overlapping in time (409 past it); both
    answers name the setting. A reservation ending in the past is 422.

    Args:
        body (ReservationCreate):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | Reservation
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
