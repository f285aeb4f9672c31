from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.jupyter_service import JupyterService
from ...models.jupyter_service_create import JupyterServiceCreate
from ...types import Response


def _get_kwargs(
    *,
    body: JupyterServiceCreate,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/jupyter/services",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | JupyterService | None:
    if response.status_code == 201:
        response_201 = JupyterService.from_dict(response.json())

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
) -> Response[ErrorResponse | JupyterService]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: JupyterServiceCreate,
) -> Response[ErrorResponse | JupyterService]:
    """Start a Jupyter service

     Queues a Jupyter server (`jupyter_server`) as a long-running task of kind `service` with its own
    resources, working in its own directory (the snapshot's files when `snapshot_id` is given). A worker
    starts it on a free port; the service is `running` once the server answers, and its `url` opened
    with its `token` reaches it. The token is made by the server and shown only to the service's owner
    and to admins. Answers at once with status `starting`.

    Args:
        body (JupyterServiceCreate): A Jupyter server to start. fetch_ml's `workspace` is
            `snapshot_id` here (the server's root directory
            holds that snapshot's files); its `image` has no counterpart (servers run on the worker's
            Python,
            not in containers) and is refused.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | JupyterService]
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
    body: JupyterServiceCreate,
) -> ErrorResponse | JupyterService | None:
    """Start a Jupyter service

     Queues a Jupyter server (`jupyter_server`) as a long-running task of kind `service` with its own
    resources, working in its own directory (the snapshot's files when `snapshot_id` is given). A worker
    starts it on a free port; the service is `running` once the server answers, and its `url` opened
    with its `token` reaches it. The token is made by the server and shown only to the service's owner
    and to admins. Answers at once with status `starting`.

    Args:
        body (JupyterServiceCreate): A Jupyter server to start. fetch_ml's `workspace` is
            `snapshot_id` here (the server's root directory
            holds that snapshot's files); its `image` has no counterpart (servers run on the worker's
            Python,
            not in containers) and is refused.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | JupyterService
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: JupyterServiceCreate,
) -> Response[ErrorResponse | JupyterService]:
    """Start a Jupyter service

     Queues a Jupyter server (`jupyter_server`) as a long-running task of kind `service` with its own
    resources, working in its own directory (the snapshot's files when `snapshot_id` is given). A worker
    starts it on a free port; the service is `running` once the server answers, and its `url` opened
    with its `token` reaches it. The token is made by the server and shown only to the service's owner
    and to admins. Answers at once with status `starting`.

    Args:
        body (JupyterServiceCreate): A Jupyter server to start. fetch_ml's `workspace` is
            `snapshot_id` here (the server's root directory
            holds that snapshot's files); its `image` has no counterpart (servers run on the worker's
            Python,
            not in containers) and is refused.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | JupyterService]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    body: JupyterServiceCreate,
) -> ErrorResponse | JupyterService | None:
    """Start a Jupyter service

     Queues a Jupyter server (`jupyter_server`) as a long-running task of kind `service` with its own
    resources, working in its own directory (the snapshot's files when `snapshot_id` is given). A worker
    starts it on a free port; the service is `running` once the server answers, and its `url` opened
    with its `token` reaches it. The token is made by the server and shown only to the service's owner
    and to admins. Answers at once with status `starting`.

    Args:
        body (JupyterServiceCreate): A Jupyter server to start. fetch_ml's `workspace` is
            `snapshot_id` here (the server's root directory
            holds that snapshot's files); its `image` has no counterpart (servers run on the worker's
            Python,
            not in containers) and is refused.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | JupyterService
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
