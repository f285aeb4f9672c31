from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.artifact import Artifact
from ...models.error_response import ErrorResponse
from ...types import UNSET, File, Response


def _get_kwargs(
    worker_id: str,
    task_id: str,
    *,
    body: File,
    path: str,
    sha256: str,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    params: dict[str, Any] = {}

    params["path"] = path

    params["sha256"] = sha256

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/workers/{worker_id}/tasks/{task_id}/artifacts".format(
            worker_id=quote(str(worker_id), safe=""),
            task_id=quote(str(task_id), safe=""),
        ),
        "params": params,
    }

    _kwargs["content"] = body.payload
    headers["Content-Type"] = "application/octet-stream"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Artifact | ErrorResponse | None:
    if response.status_code == 201:
        response_201 = Artifact.from_dict(response.json())

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
) -> Response[Artifact | ErrorResponse]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    worker_id: str,
    task_id: str,
    *,
    client: AuthenticatedClient | Client,
    body: File,
    path: str,
    sha256: str,
) -> Response[Artifact | ErrorResponse]:
    """Upload an artifact

     One output file of the task; the server checks its sha256 and refuses unsafe paths.

    Args:
        worker_id (str): An opaque identifier.
        task_id (str): An opaque identifier.
        path (str):
        sha256 (str):
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Artifact | ErrorResponse]
    """

    kwargs = _get_kwargs(
        worker_id=worker_id,
        task_id=task_id,
        body=body,
        path=path,
        sha256=sha256,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    worker_id: str,
    task_id: str,
    *,
    client: AuthenticatedClient | Client,
    body: File,
    path: str,
    sha256: str,
) -> Artifact | ErrorResponse | None:
    """Upload an artifact

     One output file of the task; the server checks its sha256 and refuses unsafe paths.

    Args:
        worker_id (str): An opaque identifier.
        task_id (str): An opaque identifier.
        path (str):
        sha256 (str):
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Artifact | ErrorResponse
    """

    return sync_detailed(
        worker_id=worker_id,
        task_id=task_id,
        client=client,
        body=body,
        path=path,
        sha256=sha256,
    ).parsed


async def asyncio_detailed(
    worker_id: str,
    task_id: str,
    *,
    client: AuthenticatedClient | Client,
    body: File,
    path: str,
    sha256: str,
) -> Response[Artifact | ErrorResponse]:
    """Upload an artifact

     One output file of the task; the server checks its sha256 and refuses unsafe paths.

    Args:
        worker_id (str): An opaque identifier.
        task_id (str): An opaque identifier.
        path (str):
        sha256 (str):
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Artifact | ErrorResponse]
    """

    kwargs = _get_kwargs(
        worker_id=worker_id,
        task_id=task_id,
        body=body,
        path=path,
        sha256=sha256,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    worker_id: str,
    task_id: str,
    *,
    client: AuthenticatedClient | Client,
    body: File,
    path: str,
    sha256: str,
) -> Artifact | ErrorResponse | None:
    """Upload an artifact

     One output file of the task; the server checks its sha256 and refuses unsafe paths.

    Args:
        worker_id (str): An opaque identifier.
        task_id (str): An opaque identifier.
        path (str):
        sha256 (str):
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Artifact | ErrorResponse
    """

    return (
        await asyncio_detailed(
            worker_id=worker_id,
            task_id=task_id,
            client=client,
            body=body,
            path=path,
            sha256=sha256,
        )
    ).parsed
