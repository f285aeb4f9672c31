"""Takes the body headers off answers that have no body (204, 205, and a 202 sent without one).

connexion gives every answer of an operation that produces JSON a ``Content-Type: application/json``,
also when the handler returns no body; a client that trusts the header then fails to parse nothing.
A 204 or 205 never has a body (RFC 9110, 15.3.5 and 15.3.6), so its Content-Type and Content-Length go;
a 202 is held until its first body message shows whether it carries one.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

NEVER_A_BODY = frozenset({204, 205})
MAYBE_NO_BODY = frozenset({202})
_BODY_HEADERS = frozenset({b"content-type", b"content-length"})


def _without_body_headers(message: Message, drop: frozenset[bytes]) -> Message:
    headers = [(name, value) for name, value in message.get("headers", []) if name.lower() not in drop]
    return {**message, "headers": headers}


class NoContentMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None

        async def cleaning_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                if message["status"] in NEVER_A_BODY:
                    message = _without_body_headers(message, _BODY_HEADERS)
                elif message["status"] in MAYBE_NO_BODY:
                    held = message
                    return
            elif message["type"] == "http.response.body" and held is not None:
                start, held = held, None
                if not message.get("body") and not message.get("more_body", False):
                    start = _without_body_headers(start, frozenset({b"content-type"}))
                await send(start)
            await send(message)

        await self.app(scope, receive, cleaning_send)
