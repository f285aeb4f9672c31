"""Rate limits around the request: the per-address budget for failed keys, and the budget headers.

Two budgets protect the service, both in shared storage (Redis, or a SQLite file in the embedded
default) so they hold across every server process:

- Every 401 answer spends one unit of the client address's failed-attempt budget, and an address that
  has spent it gets 429 here, before its key is even looked at. Looking at that budget is a storage read
  on every request; an address with no failed attempt at all in its window (nearly every client) is
  remembered as such for ``clean_seconds`` (1 s) in this process, so its next requests skip the read.
  A 401 answered by this process forgets it at once; one answered by another process is seen here at
  most ``clean_seconds`` later (each such attempt is still counted, and still needs a valid key).
- Each key's request budget depends on its role (workers poll, so they get more), so it is spent where
  the key has been resolved: `runplane.security.resolve_api_key`, still before validation and the
  handler. It leaves its result in the request state, and this middleware turns it into the
  `RateLimit-*` headers of the answer.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runplane.errors import RateLimited, describe
from runplane.middleware.responses import send_error
from runplane.ratelimit import RateLimiter, RateLimitResult

STATE_KEY = "ratelimit"

logger = logging.getLogger("runplane.ratelimit")

_MAX_CLEAN_ADDRESSES = 10_000


def address_bucket(scope: Scope) -> str:
    client = scope.get("client")
    return "authfail:" + (client[0] if client else "unknown")


def budget_headers(result: RateLimitResult) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(result.limit),
        "RateLimit-Remaining": str(max(result.remaining, 0)),
        "RateLimit-Reset": str(math.ceil(result.reset_after)),
    }


def refusal(result: RateLimitResult, limit: str, why: str) -> RateLimited:
    return RateLimited(
        why,
        details={"limit": limit, "retry_after_seconds": result.retry_after},
        headers={"Retry-After": str(result.retry_after), **budget_headers(result)},
    )


class RateLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, limiter: RateLimiter, auth_failure_limit: str, clean_seconds: float = 1.0
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.auth_failure_limit = auth_failure_limit
        self.clean_seconds = clean_seconds
        # address bucket -> until when it is known to have no failed attempt (monotonic clock)
        self._clean: dict[str, float] = {}

    async def _failures(self, address: str) -> RateLimitResult | None:
        """The address's failed-attempt budget, or None when it is known clean (or the storage is down)."""
        now = time.monotonic()
        if self._clean.get(address, 0.0) > now:
            return None
        try:
            failures = await self.limiter.peek(address, self.auth_failure_limit)
        except Exception:
            # The limit storage is down: serve rather than fail every request (health reports it).
            logger.warning("rate-limit storage unavailable; request not limited", exc_info=True)
            return None
        if failures.remaining >= failures.limit:
            if len(self._clean) >= _MAX_CLEAN_ADDRESSES:
                self._clean.clear()
            self._clean[address] = now + self.clean_seconds
        return failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        address = address_bucket(scope)
        failures = await self._failures(address)
        if failures is not None and not failures.allowed and scope["type"] == "http":
            error = refusal(failures, self.auth_failure_limit, "Too many failed API key attempts")
            await send_error(send, describe(error))
            return
        state: dict[str, Any] = scope.setdefault("state", {})

        async def send_with_budget(message: Message) -> None:
            if message["type"] == "http.response.start":
                budget: RateLimitResult | None = state.get(STATE_KEY)
                if budget is not None:
                    headers = MutableHeaders(scope=message)
                    for name, value in budget_headers(budget).items():
                        headers.setdefault(name, value)
                if message["status"] == 401:
                    self._clean.pop(address, None)
                    try:
                        await self.limiter.hit(address, self.auth_failure_limit)
                    except Exception:
                        logger.warning("rate-limit storage unavailable; failed key attempt not counted")
            await send(message)

        await self.app(scope, receive, send_with_budget)
