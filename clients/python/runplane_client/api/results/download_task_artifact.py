from http import HTTPStatus
from io import BytesIO
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...types import UNSET, File, Response, Unset


def _get_kwargs(
    task_id: str,
    artifact_path: str,
    *,
    attempt: int | Unset = UNSET,
    range_: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(range_, Unset):
        headers["Range"] = range_

    params: dict[str, Any] = {}

    params["attempt"] = attempt

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/tasks/{task_id}/artifacts/{artifact_path}".format(
            task_id=quote(str(task_id), safe=""),
            artifact_path=quote(str(artifact_path), safe=""),
        ),
        "params": params,
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorResponse | File | None:
    if response.status_code == 200:
        response_200 = File(payload=BytesIO(response.content))

        return response_200

    if response.status_code == 206:
        response_206 = File(payload=BytesIO(response.content))

        return response_206

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

    if response.status_code == 416:
        response_416 = ErrorResponse.from_dict(response.json())

        return response_416

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
) -> Response[ErrorResponse | File]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    task_id: str,
    artifact_path: str,
    *,
    client: AuthenticatedClient | Client,
    attempt: int | Unset = UNSET,
    range_: str | Unset = UNSET,
) -> Response[ErrorResponse | File]:
    """Download an artifact

     The file's bytes, with its content type and `Content-Disposition`; `Range` requests are honoured.
    Paths that try to leave the task's artifacts are refused.

    Args:
        task_id (str): An opaque identifier.
        artifact_path (str):
        attempt (int | Unset):
        range_ (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | File]
    """

    kwargs = _get_kwargs(
        task_id=task_id,
        artifact_path=artifact_path,
        attempt=attempt,
        range_=range_,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    task_id: str,
    artifact_path: str,
    *,
    client: AuthenticatedClient | Client,
    attempt: int | Unset = UNSET,
    range_: str | Unset = UNSET,
) -> ErrorResponse | File | None:
    """Download an artifact

     The file's bytes, with its content type and `Content-Disposition`; `Range` requests are honoured.
    Paths that try to leave the task's artifacts are refused.

    Args:
        task_id (str): An opaque identifier.
        artifact_path (str):
        attempt (int | Unset):
        range_ (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | File
    """

    return sync_detailed(
        task_id=task_id,
        artifact_path=artifact_path,
        client=client,
        attempt=attempt,
        range_=range_,
    ).parsed


async def asyncio_detailed(
    task_id: str,
    artifact_path: str,
    *,
    client: AuthenticatedClient | Client,
    attempt: int | Unset = UNSET,
    range_: str | Unset = UNSET,
) -> Response[ErrorResponse | File]:
    """Download an artifact

     The file's bytes, with its content type and `Content-Disposition`; `Range` requests are honoured.
    Paths that try to leave the task's artifacts are refused.

    Args:
        task_id (str): An opaque identifier.
        artifact_path (str):
        attempt (int | Unset):
        range_ (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | File]
    """

    kwargs = _get_kwargs(
        task_id=task_id,
        artifact_path=artifact_path,
        attempt=attempt,
        range_=range_,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    task_id: str,
    artifact_path: str,
    *,
    client: AuthenticatedClient | Client,
    attempt: int | Unset = UNSET,
    range_: str | Unset = UNSET,
) -> ErrorResponse | File | None:
    """Download an artifact

     The file's bytes, with its content type and `Content-Disposition`; `Range` requests are honoured.
    Paths that try to leave the task's artifacts are refused.

    Args:
        task_id (str): An opaque identifier.
        artifact_path (str):
        attempt (int | Unset):
        range_ (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | File
    """

    return (
        await asyncio_detailed(
            task_id=task_id,
            artifact_path=artifact_path,
            client=client,
            attempt=attempt,
            range_=range_,
        )
    ).parsed
