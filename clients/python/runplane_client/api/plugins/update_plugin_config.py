from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.plugin import Plugin
from ...models.plugin_config import PluginConfig
from ...types import Response


def _get_kwargs(
    plugin_name: str,
    *,
    body: PluginConfig,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "put",
        "url": "/v1/plugins/{plugin_name}/config".format(
            plugin_name=quote(str(plugin_name), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorResponse | Plugin | None:
    if response.status_code == 200:
        response_200 = Plugin.from_dict(response.json())

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

    if response.status_code == 409:
        response_409 = ErrorResponse.from_dict(response.json())

        return response_409

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
) -> Response[ErrorResponse | Plugin]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    plugin_name: str,
    *,
    client: AuthenticatedClient | Client,
    body: PluginConfig,
) -> Response[ErrorResponse | Plugin]:
    """Change a plugin's configuration

     Replaces the plugin's configuration at runtime (admin only); a sidecar is started, restarted or
    stopped to match within a few seconds. Secret settings are write-only: one left out keeps its
    stored value, one set to `null` is removed. Unknown settings and wrong types are a 422; sidecar
    mode when the server lacks the plugin's program (`pip install 'runplane[plugins]'`) is a 409.
    Records a `plugin_configured` audit event (setting names only, never values).

    Args:
        plugin_name (str):
        body (PluginConfig):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | Plugin]
    """

    kwargs = _get_kwargs(
        plugin_name=plugin_name,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    plugin_name: str,
    *,
    client: AuthenticatedClient | Client,
    body: PluginConfig,
) -> ErrorResponse | Plugin | None:
    """Change a plugin's configuration

     Replaces the plugin's configuration at runtime (admin only); a sidecar is started, restarted or
    stopped to match within a few seconds. Secret settings are write-only: one left out keeps its
    stored value, one set to `null` is removed. Unknown settings and wrong types are a 422; sidecar
    mode when the server lacks the plugin's program (`pip install 'runplane[plugins]'`) is a 409.
    Records a `plugin_configured` audit event (setting names only, never values).

    Args:
        plugin_name (str):
        body (PluginConfig):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | Plugin
    """

    return sync_detailed(
        plugin_name=plugin_name,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    plugin_name: str,
    *,
    client: AuthenticatedClient | Client,
    body: PluginConfig,
) -> Response[ErrorResponse | Plugin]:
    """Change a plugin's configuration

     Replaces the plugin's configuration at runtime (admin only); a sidecar is started, restarted or
    stopped to match within a few seconds. Secret settings are write-only: one left out keeps its
    stored value, one set to `null` is removed. Unknown settings and wrong types are a 422; sidecar
    mode when the server lacks the plugin's program (`pip install 'runplane[plugins]'`) is a 409.
    Records a `plugin_configured` audit event (setting names only, never values).

    Args:
        plugin_name (str):
        body (PluginConfig):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | Plugin]
    """

    kwargs = _get_kwargs(
        plugin_name=plugin_name,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    plugin_name: str,
    *,
    client: AuthenticatedClient | Client,
    body: PluginConfig,
) -> ErrorResponse | Plugin | None:
    """Change a plugin's configuration

     Replaces the plugin's configuration at runtime (admin only); a sidecar is started, restarted or
    stopped to match within a few seconds. Secret settings are write-only: one left out keeps its
    stored value, one set to `null` is removed. Unknown settings and wrong types are a 422; sidecar
    mode when the server lacks the plugin's program (`pip install 'runplane[plugins]'`) is a 409.
    Records a `plugin_configured` audit event (setting names only, never values).

    Args:
        plugin_name (str):
        body (PluginConfig):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | Plugin
    """

    return (
        await asyncio_detailed(
            plugin_name=plugin_name,
            client=client,
            body=body,
        )
    ).parsed
