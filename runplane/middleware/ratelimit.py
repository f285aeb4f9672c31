"""Per-key request budgets and per-address budgets for failed key attempts.

A request that presents a key spends one unit of that key's budget (the bucket is a hash of the key, so
no database lookup is needed and unknown keys are limited too). Every 401 answer spends one unit of the
client address's failed-attempt budget; an address that has spent it gets 429 before its key is checked.
The budgets live in shared storage (Redis, or a SQLite file in the embedded default), so they hold
across every server process.
"""

from __future__ import annotations

import hashlib
import logging
import math

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runplane.errors import RateLimited, describe
from runplane.middleware.responses import send_error
from runplane.ratelimit import RateLimiter, RateLimitResult

API_KEY_HEADER = "x-api-key"

logger = logging.getLogger("runplane.ratelimit")


def _key_bucket(api_key: str) -> str:
    return "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:32]


def _address_bucket(scope: Scope) -> str:
    client = scope.get("client")
    return "authfail:" + (client[0] if client else "unknown")


def _headers(result: RateLimitResult) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(result.limit),
        "RateLimit-Remaining": str(max(result.remaining, 0)),
        "RateLimit-Reset": str(math.ceil(result.reset_after)),
    }


class RateLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, limiter: RateLimiter, key_limit: str, auth_failure_limit: str
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.key_limit = key_limit
        self.auth_failure_limit = auth_failure_limit

    def _refusal(self, result: RateLimitResult, limit: str, why: str) -> RateLimited:
        return RateLimited(
            why,
            details={"limit": limit, "retry_after_seconds": result.retry_after},
            headers={"Retry-After": str(result.retry_after), **_headers(result)},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        api_key = Headers(scope=scope).get(API_KEY_HEADER)
        address = _address_bucket(scope)
        budget: RateLimitResult | None = None
        try:
            failures = await self.limiter.peek(address, self.auth_failure_limit)
            if api_key is not None and failures.allowed:
                budget = await self.limiter.hit(_key_bucket(api_key), self.key_limit)
        except Exception:
            # The limit storage is down: serve rather than fail every request (health reports it).
            logger.warning("rate-limit storage unavailable; request not limited", exc_info=True)
            await self.app(scope, receive, send)
            return
        if not failures.allowed and scope["type"] == "http":
            error = self._refusal(failures, self.auth_failure_limit, "Too many failed API key attempts")
            await send_error(send, describe(error))
            return
        if budget is not None and not budget.allowed and scope["type"] == "http":
            await send_error(send, describe(self._refusal(budget, self.key_limit, "Rate limit exceeded")))
            return

        async def send_with_budget(message: Message) -> None:
            if message["type"] == "http.response.start":
                if budget is not None:
                    headers = MutableHeaders(scope=message)
                    for name, value in _headers(budget).items():
                        headers[name] = value
                if message["status"] == 401:
                    try:
                        await self.limiter.hit(address, self.auth_failure_limit)
                    except Exception:
                        logger.warning("rate-limit storage unavailable; failed key attempt not counted")
            await send(message)

        await self.app(scope, receive, send_with_budget)
