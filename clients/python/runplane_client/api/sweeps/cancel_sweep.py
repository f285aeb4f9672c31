from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.sweep_cancellation import SweepCancellation
from ...types import Response


def _get_kwargs(
    sweep_id: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "delete",
        "url": "/v1/sweeps/{sweep_id}".format(
            sweep_id=quote(str(sweep_id), safe=""),
        ),
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | SweepCancellation | None:
    if response.status_code == 200:
        response_200 = SweepCancellation.from_dict(response.json())

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
) -> Response[ErrorResponse | SweepCancellation]:
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
) -> Response[ErrorResponse | SweepCancellation]:
    """Cancel a sweep

     Cancels every unfinished task of the sweep: queued tasks become `cancelled` at once, started ones
    are stopped by their workers (as `DELETE /v1/tasks/{taskId}` does). Finished tasks keep their
    results; repeating the call cancels whatever is still unfinished.

    Args:
        sweep_id (str): An opaque identifier.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | SweepCancellation]
    """

    kwargs = _get_kwargs(
        sweep_id=sweep_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    sweep_id: str,
    *,
    client: AuthenticatedClient | Client,
) -> ErrorResponse | SweepCancellation | None:
    """Cancel a sweep

     Cancels every unfinished task of the sweep: queued tasks become `cancelled` at once, started ones
    are stopped by their workers (as `DELETE /v1/tasks/{taskId}` does). Finished tasks keep their
    results; repeating the call cancels whatever is still unfinished.

    Args:
        sweep_id (str): An opaque identifier.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | SweepCancellation
    """

    return sync_detailed(
        sweep_id=sweep_id,
        client=client,
    ).parsed


async def asyncio_detailed(
    sweep_id: str,
    *,
    client: AuthenticatedClient | Client,
) -> Response[ErrorResponse | SweepCancellation]:
    """Cancel a sweep

     Cancels every unfinished task of the sweep: queued tasks become `cancelled` at once, started ones
    are stopped by their workers (as `DELETE /v1/tasks/{taskId}` does). Finished tasks keep their
    results; repeating the call cancels whatever is still unfinished.

    Args:
        sweep_id (str): An opaque identifier.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | SweepCancellation]
    """

    kwargs = _get_kwargs(
        sweep_id=sweep_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    sweep_id: str,
    *,
    client: AuthenticatedClient | Client,
) -> ErrorResponse | SweepCancellation | None:
    """Cancel a sweep

     Cancels every unfinished task of the sweep: queued tasks become `cancelled` at once, started ones
    are stopped by their workers (as `DELETE /v1/tasks/{taskId}` does). Finished tasks keep their
    results; repeating the call cancels whatever is still unfinished.

    Args:
        sweep_id (str): An opaque identifier.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | SweepCancellation
    """

    return (
        await asyncio_detailed(
            sweep_id=sweep_id,
            client=client,
        )
    ).parsed
