"""API keys: generation, hashing, resolving a presented key to a principal, and role checks.

Keys are 256-bit random secrets, so a single SHA-256 is a sound way to store them (there is nothing to
brute-force the way a password can be); only the hash and a short prefix for recognition are stored.
Which roles may call an operation is declared in the contract (`x-roles` on the operation) and
enforced here, in one place, when the key is resolved.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from connexion.lifecycle import ConnexionRequest
from starlette.types import Scope

from runplane import audit
from runplane.errors import Forbidden
from runplane.middleware.ratelimit import STATE_KEY, refusal
from runplane.services import Services, services_of
from runplane.settings import Settings

logger = logging.getLogger("runplane.security")

KEY_PREFIX = "rp_"
ROLES = ("admin", "user", "worker")
DEFAULT_ROLES = ("admin", "user")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user a key acts for, its role and the key's id."""

    user_id: str
    role: str
    key_id: str
    # The key's hash, so a long-lived stream can re-check it (`wait_until_revoked`); None for a principal
    # not made from a stored key (the admin key of the environment, tests).
    key_hash: str | None = field(default=None, repr=False, compare=False)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str:
    return key[:10]


def operation_roles(spec: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """operationId → the roles allowed to call it, read from the contract's `x-roles`."""
    roles: dict[str, tuple[str, ...]] = {}
    for path_item in spec.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "operationId" in operation:
                roles[operation["operationId"]] = tuple(operation.get("x-roles", DEFAULT_ROLES))
    return roles


def _operation_id(request: ConnexionRequest) -> str | None:
    routing = request.scope.get("extensions", {}).get("connexion_routing", {})
    operation_id = routing.get("operation_id")
    return operation_id.rsplit(".", 1)[-1] if operation_id else None


async def authenticate(
    services: Services, api_key: str, *, client: str | None = None, resource: str | None = None
) -> Principal | None:
    """The principal of a key; None (recorded as a refused `auth_attempt` from `client`) for an unknown one."""
    admin_key = services.settings.admin_key
    if admin_key is not None and hmac.compare_digest(api_key.encode(), admin_key.get_secret_value().encode()):
        return Principal(user_id="admin", role="admin", key_id="env")
    row = await services.keys.find_active(hash_key(api_key))
    if row is None:
        await services.audit.auth_refused(
            ip_address=client, resource=resource, reason="unknown or revoked key"
        )
        return None
    return Principal(user_id=row.user_id, role=row.role, key_id=row.id, key_hash=row.key_hash)


def header_key(value: str) -> str:
    """The API key in an ``X-API-Key`` header value: without the optional whitespace (SP, HTAB) around it,
    which RFC 9110 §5.5 says is no part of a field value. Keys never contain whitespace themselves."""
    return value.strip(" \t")


async def resolve_api_key(api_key: str, request: ConnexionRequest) -> dict[str, Any] | None:
    """connexion's `x-apikeyInfoFunc`: None means 401; a wrong role is 403."""
    api_key = header_key(api_key)
    services = services_of(request.scope)
    client = audit.client_address(request.scope)
    resource = f"{request.method} {request.url.path}"
    principal = await authenticate(services, api_key, client=client, resource=resource)
    if principal is None:
        return None
    operation_id = _operation_id(request)
    allowed = services.operation_roles.get(operation_id or "", DEFAULT_ROLES)
    if principal.role not in allowed:
        needed = " or ".join(allowed)
        await services.audit.auth_refused(
            ip_address=client,
            resource=resource,
            reason=f"the {principal.role} role may not call {operation_id}",
            user_id=principal.user_id,
            metadata={"role": principal.role, "operation": operation_id},
        )
        raise Forbidden(f"This operation needs the {needed} role", details={"role": principal.role})
    # Whatever this request changes is audited as this user's doing, from this address.
    audit.current_actor.set(audit.Actor(principal.user_id, client))
    await spend_budget(services, principal, api_key, request.scope)
    return {"sub": principal.user_id, "principal": principal}


def key_limit(settings: Settings, role: str) -> str:
    """A key's request budget: workers poll and stream logs, so their role has its own."""
    return settings.worker_rate_limit if role == "worker" else settings.rate_limit


async def spend_budget(services: Services, principal: Principal, api_key: str, scope: Scope) -> None:
    """Spends one request of the key's budget; 429 when it is gone. The result feeds the answer's headers.

    Through :meth:`RateLimiter.spend`: budget is reserved from the shared storage in batches, so most
    requests write nothing (see :mod:`runplane.ratelimit` for what that trades).
    """
    limit = key_limit(services.settings, principal.role)
    try:
        budget = await services.limiter.spend("key:" + hash_key(api_key)[:32], limit)
    except Exception:
        # The limit storage is down: serve rather than fail every request (health reports it).
        logger.warning("rate-limit storage unavailable; request not limited", exc_info=True)
        return
    scope.setdefault("state", {})[STATE_KEY] = budget
    if not budget.allowed:
        raise refusal(budget, limit, "Rate limit exceeded")


KEY_RECHECK_SECONDS = 1.0
"""How often an open stream (WebSocket, SSE, followed log) re-checks its key. Each check is one read of
the revocation epoch while the key stays cached (`runplane.store.keys.KeyStore.find_active`), so a
revocation ends the stream within about this long, in every server process."""


async def wait_until_revoked(
    services: Services, principal: Principal, *, interval: float = KEY_RECHECK_SECONDS
) -> None:
    """Returns once ``principal``'s key no longer authenticates (revoked or deleted); never returns for a
    principal without a stored key (the environment's admin key cannot be revoked through the API).

    Open streams await this beside their work and end when it returns: a request is authenticated once,
    but a stream lives for hours, and a revoked key must stop receiving data at once (README, "Keys").
    A failed check (database or epoch storage down) keeps the stream and tries again next time.
    """
    if principal.key_hash is None:
        await asyncio.Event().wait()
        return
    while True:
        await asyncio.sleep(interval)
        try:
            row = await services.keys.find_active(principal.key_hash)
        except Exception:
            logger.warning("key re-check of an open stream failed", exc_info=True)
            continue
        if row is None or row.id != principal.key_id:
            return
