from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.ws_client_message import WsClientMessage
from ...models.ws_server_message import WsServerMessage
from ...types import Response


def _get_kwargs() -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/ws",
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | WsClientMessage | WsServerMessage | None:
    if response.status_code == 101:

        def _parse_response_101(data: object) -> WsClientMessage | WsServerMessage:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                response_101_type_0 = WsClientMessage.from_dict(data)

                return response_101_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            response_101_type_1 = WsServerMessage.from_dict(data)

            return response_101_type_1

        response_101 = _parse_response_101(response.json())

        return response_101

    if response.status_code == 401:
        response_401 = ErrorResponse.from_dict(response.json())

        return response_401

    if response.status_code == 426:
        response_426 = ErrorResponse.from_dict(response.json())

        return response_426

    if response.status_code == 429:
        response_429 = ErrorResponse.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = ErrorResponse.from_dict(response.json())

        return response_500

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorResponse | WsClientMessage | WsServerMessage]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
) -> Response[ErrorResponse | WsClientMessage | WsServerMessage]:
    """Live events over WebSocket

     Upgrade to a WebSocket for live events. Authenticate with the `X-API-Key` header or, from a
    browser, with a first message `{"type": "auth", "api_key": "..."}` (no key in time: closed with
    policy code 1008). Then `subscribe` / `unsubscribe` with `message_types` (`*` for all) and `ping`;
    the server replies `subscribed`, `unsubscribed`, `pong`, sends events (see `StreamEvent`) and
    answers
    a bad message with an `error` message without closing. A client too slow to keep up is disconnected
    (code 1013) rather than slow anyone else. A plain HTTP request here answers 426.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | WsClientMessage | WsServerMessage]
    """

    kwargs = _get_kwargs()

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
) -> ErrorResponse | WsClientMessage | WsServerMessage | None:
    """Live events over WebSocket

     Upgrade to a WebSocket for live events. Authenticate with the `X-API-Key` header or, from a
    browser, with a first message `{"type": "auth", "api_key": "..."}` (no key in time: closed with
    policy code 1008). Then `subscribe` / `unsubscribe` with `message_types` (`*` for all) and `ping`;
    the server replies `subscribed`, `unsubscribed`, `pong`, sends events (see `StreamEvent`) and
    answers
    a bad message with an `error` message without closing. A client too slow to keep up is disconnected
    (code 1013) rather than slow anyone else. A plain HTTP request here answers 426.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | WsClientMessage | WsServerMessage
    """

    return sync_detailed(
        client=client,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
) -> Response[ErrorResponse | WsClientMessage | WsServerMessage]:
    """Live events over WebSocket

     Upgrade to a WebSocket for live events. Authenticate with the `X-API-Key` header or, from a
    browser, with a first message `{"type": "auth", "api_key": "..."}` (no key in time: closed with
    policy code 1008). Then `subscribe` / `unsubscribe` with `message_types` (`*` for all) and `ping`;
    the server replies `subscribed`, `unsubscribed`, `pong`, sends events (see `StreamEvent`) and
    answers
    a bad message with an `error` message without closing. A client too slow to keep up is disconnected
    (code 1013) rather than slow anyone else. A plain HTTP request here answers 426.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | WsClientMessage | WsServerMessage]
    """

    kwargs = _get_kwargs()

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
) -> ErrorResponse | WsClientMessage | WsServerMessage | None:
    """Live events over WebSocket

     Upgrade to a WebSocket for live events. Authenticate with the `X-API-Key` header or, from a
    browser, with a first message `{"type": "auth", "api_key": "..."}` (no key in time: closed with
    policy code 1008). Then `subscribe` / `unsubscribe` with `message_types` (`*` for all) and `ping`;
    the server replies `subscribed`, `unsubscribed`, `pong`, sends events (see `StreamEvent`) and
    answers
    a bad message with an `error` message without closing. A client too slow to keep up is disconnected
    (code 1013) rather than slow anyone else. A plain HTTP request here answers 426.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | WsClientMessage | WsServerMessage
    """

    return (
        await asyncio_detailed(
            client=client,
        )
    ).parsed
