"""The `/ws` endpoint: live events over a WebSocket, with subscribe / unsubscribe / ping.

Mounted by `runplane.app` as a Starlette `WebSocketRoute` in front of the connexion mount (a plain HTTP
GET of `/ws` reaches connexion and answers 426). The protocol (schemas `WsClientMessage`,
`WsServerMessage` and `StreamEvent` in openapi.yaml):

- Authentication: the `X-API-Key` header, or (browsers) a first message
  ``{"type": "auth", "api_key": "..."}`` within `ws_auth_timeout_seconds`, answered ``{"type":
  "authenticated"}``. No key in time, a bad key or a role the contract does not allow: closed 1008.
- ``{"type": "subscribe", "message_types": [...]}`` (EventTopic values, or ``"*"`` for all) →
  ``{"type": "subscribed", "message_types": [current]}``; ``unsubscribe`` likewise → ``unsubscribed``;
  ``{"type": "ping"}`` → ``{"type": "pong"}``. A new connection is subscribed to nothing.
- Events: ``{"type": <topic>, "id", "ts", "data"}``, only those the caller may see (see `hub.visible`).
- A malformed message (not JSON, not an object, bad `message_types`, unknown type) gets
  ``{"type": "error", "error": "...", "code": "BAD_REQUEST"}`` and the socket stays open.
- Each client has a bounded queue drained by its own writer task; a client that cannot keep up is
  closed with 1013 and a reason, and never holds anyone else up. More than `ws_max_connections` open
  sockets in this process: the newcomer is closed with 1013 "too many connections".
- The key is re-checked about every second (`runplane.security.wait_until_revoked`): once it is revoked
  the socket is closed with 4401 "the API key was revoked".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Final

from starlette.websockets import WebSocket, WebSocketDisconnect

from runplane.live.hub import ALL_TOPICS, EventHub, LiveEvent, Subscription
from runplane.security import DEFAULT_ROLES, Principal, authenticate, header_key, wait_until_revoked
from runplane.services import Services, services_of

logger = logging.getLogger("runplane.live")

OPERATION_ID: Final = "connect_websocket"
WILDCARD: Final = "*"
MAX_MESSAGE_CHARS: Final = 4096
MAX_TYPES: Final = 16
CLOSE_TIMEOUT: Final = 5.0
"""How long a close frame may wait behind a stalled client's unsent data before the socket is left to
the server (which closes it)."""

POLICY_VIOLATION: Final = 1008
TRY_AGAIN_LATER: Final = 1013
INTERNAL_ERROR: Final = 1011
# The key the socket was opened with has been revoked (4000-4999: application codes; 4401 echoes 401).
KEY_REVOKED: Final = 4401


def error(message: str) -> dict[str, Any]:
    return {"type": "error", "error": message, "code": "BAD_REQUEST"}


def current_types(sub: Subscription) -> list[str]:
    return [WILDCARD] if sub.topics is None else sorted(sub.topics)


def _message_types(message: dict[str, Any]) -> list[str] | str:
    """The message's `message_types`, or an error text."""
    types = message.get("message_types")
    allowed = ", ".join(sorted(ALL_TOPICS))
    if not isinstance(types, list) or not types or len(types) > MAX_TYPES:
        return f"message_types must be a list of 1 to {MAX_TYPES} of: {allowed} or '*'"
    unknown = [t for t in types if not isinstance(t, str) or (t != WILDCARD and t not in ALL_TOPICS)]
    if unknown:
        shown = ", ".join(repr(t)[:40] for t in unknown[:3])
        return f"unknown message_types {shown}; use {allowed} or '*'"
    return types


def handle(text: str, sub: Subscription) -> dict[str, Any]:
    """The reply to one client message (changing `sub`'s topics for subscribe / unsubscribe)."""
    if len(text) > MAX_MESSAGE_CHARS:
        return error(f"message too large (more than {MAX_MESSAGE_CHARS} characters)")
    try:
        message = json.loads(text)
    except ValueError:
        return error("message is not valid JSON")
    if not isinstance(message, dict):
        return error("message must be a JSON object")
    kind = message.get("type")
    if kind == "ping":
        return {"type": "pong"}
    if kind in ("subscribe", "unsubscribe"):
        types = _message_types(message)
        if isinstance(types, str):
            return error(types)
        if kind == "subscribe":
            sub.topics = None if WILDCARD in types else (sub.topics or frozenset()) | frozenset(types)
            return {"type": "subscribed", "message_types": current_types(sub)}
        if WILDCARD in types:
            sub.topics = frozenset()
        else:
            sub.topics = (ALL_TOPICS if sub.topics is None else sub.topics) - frozenset(types)
        return {"type": "unsubscribed", "message_types": current_types(sub)}
    if kind == "auth":
        return error("already authenticated")
    if not isinstance(kind, str):
        return error("message needs a string 'type': subscribe, unsubscribe or ping")
    return error(f"unknown message type {kind[:40]!r}; use subscribe, unsubscribe or ping")


def _text_of(message: Any) -> str:
    """A received message's text; binary frames are read as UTF-8 (else they are malformed JSON)."""
    text = message.get("text")
    if isinstance(text, str):
        return text
    try:
        return bytes(message.get("bytes") or b"").decode()
    except UnicodeDecodeError:
        return "\ufffd"  # not JSON: answered like any other malformed message


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await websocket.close(code, reason)


async def _principal(websocket: WebSocket, services: Services) -> Principal | None:
    """Who is connecting, from the header or a first `auth` message; None (socket closed) otherwise."""
    key = websocket.headers.get("x-api-key")
    if key is not None:
        key = header_key(key)
    else:
        try:
            async with asyncio.timeout(services.settings.ws_auth_timeout_seconds):
                received = await websocket.receive()
        except TimeoutError:
            await _close(websocket, POLICY_VIOLATION, "authentication required")
            return None
        if received["type"] == "websocket.disconnect":
            return None
        try:
            message = json.loads(_text_of(received))
        except ValueError:
            message = None
        if not (
            isinstance(message, dict)
            and message.get("type") == "auth"
            and isinstance(message.get("api_key"), str)
        ):
            await _close(
                websocket, POLICY_VIOLATION, 'authentication required: send {"type":"auth","api_key":...}'
            )
            return None
        key = message["api_key"]
    client = websocket.client.host if websocket.client else None
    principal = await authenticate(services, key, client=client, resource="GET /ws") if key else None
    if principal is None:
        await _close(websocket, POLICY_VIOLATION, "invalid API key")
        return None
    allowed = services.operation_roles.get(OPERATION_ID, DEFAULT_ROLES)
    if principal.role not in allowed:
        await _close(websocket, POLICY_VIOLATION, f"the {principal.role} role may not use /ws")
        return None
    if websocket.headers.get("x-api-key") is None:
        await websocket.send_text(_dumps({"type": "authenticated"}))
    return principal


async def _write(websocket: WebSocket, sub: Subscription) -> None:
    """Sends the queued events and replies in order, until the hub closes the subscription."""
    while True:  # ends with Dropped (from sub.next) or the client's disconnect (from send)
        item = await sub.next()
        for message in (item, *sub.pending()):
            if isinstance(message, LiveEvent):
                await websocket.send_text(message.message)
            elif isinstance(message, str):
                await websocket.send_text(message)


async def _read(websocket: WebSocket, hub: EventHub, sub: Subscription) -> None:
    """Answers the client's messages, until it disconnects."""
    while True:  # ends when the client disconnects
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        reply = handle(_text_of(message), sub)
        hub.topics_changed(sub)  # a `subscribe` may make it a receiver of the queue's figures
        if not hub.offer(sub, _dumps(reply)):
            return


async def _serve(websocket: WebSocket, services: Services, hub: EventHub, principal: Principal) -> None:
    await hub.catch_up()
    sub = hub.subscribe(principal, "websocket", topics=frozenset())
    writer = asyncio.create_task(_write(websocket, sub), name="runplane-ws-writer")
    reader = asyncio.create_task(_read(websocket, hub, sub), name="runplane-ws-reader")
    closed = asyncio.create_task(sub.closed.wait(), name="runplane-ws-closed")
    revoked = asyncio.create_task(wait_until_revoked(services, principal), name="runplane-ws-key")
    tasks = (writer, reader, closed, revoked)
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        dropped = sub.reason if sub.closed.is_set() else None
        hub.unsubscribe(sub)
    if revoked.done() and not revoked.cancelled() and revoked.exception() is None:
        await _close(websocket, KEY_REVOKED, "the API key was revoked")
    elif dropped is not None:
        await _close(websocket, sub.code, dropped)


async def websocket_endpoint(websocket: WebSocket) -> None:
    services = services_of(websocket.scope)
    hub = services.hub
    await websocket.accept()
    if not hub.ready:
        await _close(websocket, TRY_AGAIN_LATER, "live events not available yet")
        return
    if hub.sockets >= services.settings.ws_max_connections:
        await _close(websocket, TRY_AGAIN_LATER, "too many connections")
        return
    hub.sockets += 1
    try:
        principal = await _principal(websocket, services)
        if principal is not None:
            await _serve(websocket, services, hub, principal)
    except WebSocketDisconnect:
        pass
    except Exception:
        logger.exception("WebSocket session failed")
        await _close(websocket, INTERNAL_ERROR, "internal error")
    finally:
        hub.sockets -= 1
