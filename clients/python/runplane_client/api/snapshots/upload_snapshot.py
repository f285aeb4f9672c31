from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.snapshot import Snapshot
from ...types import File, Response


def _get_kwargs(
    *,
    body: File | File,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/snapshots",
    }

    if isinstance(body, File):
        _kwargs["content"] = body.payload
        headers["Content-Type"] = "application/gzip"
    if isinstance(body, File):
        _kwargs["content"] = body.payload
        headers["Content-Type"] = "application/octet-stream"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | Snapshot | None:
    if response.status_code == 201:
        response_201 = Snapshot.from_dict(response.json())

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
) -> Response[ErrorResponse | Snapshot]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: File | File,
) -> Response[ErrorResponse | Snapshot]:
    """Upload a code snapshot

     A gzip-compressed tar of the code a task runs, sent as `application/octet-stream` or
    `application/gzip` (the same bytes either way). Archives with unsafe members (absolute paths, `..`,
    links that lead out, devices) are refused with 400 naming the member. An archive that would unpack
    to more than `RUNPLANE_SNAPSHOT_MAX_UNPACKED_BYTES` (default 10 GiB, the sum of its files' sizes in
    the tar headers) or hold more than `RUNPLANE_SNAPSHOT_MAX_MEMBERS` entries (default 100,000) is 413,
    found while the headers are listed, without unpacking it.

    Args:
        body (File):
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | Snapshot]
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
    body: File | File,
) -> ErrorResponse | Snapshot | None:
    """Upload a code snapshot

     A gzip-compressed tar of the code a task runs, sent as `application/octet-stream` or
    `application/gzip` (the same bytes either way). Archives with unsafe members (absolute paths, `..`,
    links that lead out, devices) are refused with 400 naming the member. An archive that would unpack
    to more than `RUNPLANE_SNAPSHOT_MAX_UNPACKED_BYTES` (default 10 GiB, the sum of its files' sizes in
    the tar headers) or hold more than `RUNPLANE_SNAPSHOT_MAX_MEMBERS` entries (default 100,000) is 413,
    found while the headers are listed, without unpacking it.

    Args:
        body (File):
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | Snapshot
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: File | File,
) -> Response[ErrorResponse | Snapshot]:
    """Upload a code snapshot

     A gzip-compressed tar of the code a task runs, sent as `application/octet-stream` or
    `application/gzip` (the same bytes either way). Archives with unsafe members (absolute paths, `..`,
    links that lead out, devices) are refused with 400 naming the member. An archive that would unpack
    to more than `RUNPLANE_SNAPSHOT_MAX_UNPACKED_BYTES` (default 10 GiB, the sum of its files' sizes in
    the tar headers) or hold more than `RUNPLANE_SNAPSHOT_MAX_MEMBERS` entries (default 100,000) is 413,
    found while the headers are listed, without unpacking it.

    Args:
        body (File):
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | Snapshot]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    body: File | File,
) -> ErrorResponse | Snapshot | None:
    """Upload a code snapshot

     A gzip-compressed tar of the code a task runs, sent as `application/octet-stream` or
    `application/gzip` (the same bytes either way). Archives with unsafe members (absolute paths, `..`,
    links that lead out, devices) are refused with 400 naming the member. An archive that would unpack
    to more than `RUNPLANE_SNAPSHOT_MAX_UNPACKED_BYTES` (default 10 GiB, the sum of its files' sizes in
    the tar headers) or hold more than `RUNPLANE_SNAPSHOT_MAX_MEMBERS` entries (default 100,000) is 413,
    found while the headers are listed, without unpacking it.

    Args:
        body (File):
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | Snapshot
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
