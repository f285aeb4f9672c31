"""Rate limits around the request: the per-address budget for failed keys, and the budget headers.

Two budgets protect the service, both in shared storage (Redis, or a SQLite file in the embedded
default) so they hold across every server process:

- Every 401 answer spends one unit of the client address's failed-attempt budget, and once an address
  has spent it, what would have been a 401 is a 429 (with `Retry-After`). A request with a valid key is
  never refused for its address's failures: clients share addresses (the tasks on a worker's host, users
  behind one NAT), and a task that sends bad keys must not cost the worker on its host its lease. Telling
  a valid key from an invalid one gives an over-budget client nothing it could use, since a key is 256
  random bits; the budget bounds the work and the log lines unauthenticated clients cause. Requests with
  a valid key touch this budget not at all (no storage round trip).
- Each key's request budget depends on its role (workers poll, so they get more), so it is spent where
  the key has been resolved: `runplane.security.resolve_api_key`, still before validation and the
  handler. It leaves its result in the request state, and this middleware turns it into the
  `RateLimit-*` headers of the answer.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runplane.errors import RateLimited, describe
from runplane.middleware.responses import send_error
from runplane.ratelimit import RateLimiter, RateLimitResult

STATE_KEY = "ratelimit"

logger = logging.getLogger("runplane.ratelimit")


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
    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, auth_failure_limit: str) -> None:
        self.app = app
        self.limiter = limiter
        self.auth_failure_limit = auth_failure_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        address = address_bucket(scope)
        state: dict[str, Any] = scope.setdefault("state", {})
        refused = False

        async def send_with_budget(message: Message) -> None:
            nonlocal refused
            if refused:  # the 401's body, replaced by the 429 already sent
                return
            if message["type"] == "http.response.start":
                if message["status"] == 401:
                    failures = await self._spend(address)
                    if failures is not None and not failures.allowed:
                        refused = True
                        error = refusal(failures, self.auth_failure_limit, "Too many failed API key attempts")
                        await send_error(send, describe(error))
                        return
                budget: RateLimitResult | None = state.get(STATE_KEY)
                if budget is not None:
                    headers = MutableHeaders(scope=message)
                    for name, value in budget_headers(budget).items():
                        headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_budget)

    async def _spend(self, address: str) -> RateLimitResult | None:
        """One failed attempt spent from the address's budget; None when the limit storage is down."""
        try:
            return await self.limiter.hit(address, self.auth_failure_limit)
        except Exception:
            # Serve rather than fail (health reports the storage).
            logger.warning("rate-limit storage unavailable; failed key attempt not counted")
            return None
