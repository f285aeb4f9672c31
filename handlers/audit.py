"""Operations of the Audit tag (admin only, as the contract's x-roles says)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handlers.context import services
from runplane.audit import format_timestamp
from runplane.errors import ValidationFailed
from runplane.validation import utc_instant

Answer = tuple[dict[str, Any], int]


def _instant(value: str | None, name: str) -> datetime | None:
    # connexion has checked the value already (runplane.validation holds every date-time to one rule).
    if value is None:
        return None
    try:
        return utc_instant(value)
    except ValueError as exc:
        raise ValidationFailed(f"'{name}' {exc}", details={"field": name, "in": "query"}) from None


async def list_audit_events(
    token_info: dict[str, Any],
    from_: str | None = None,
    to: str | None = None,
    event_type: str | None = None,
    user_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Answer:
    # Events are returned as stored (not through pydantic), so each one is exactly the document its
    # hash covers plus the two hashes: a client can recompute the chain from these pages.
    events, total = await services().audit.page(
        since=_instant(from_, "from"),
        until=_instant(to, "to"),
        event_type=event_type,
        user_id=user_id,
        limit=limit,
        offset=offset,
    )
    return {"events": events, "total": total, "limit": limit, "offset": offset}, 200


async def verify_audit_chain(token_info: dict[str, Any]) -> Answer:
    result = await services().audit.verify()
    return {
        "valid": result.valid,
        "total_events": result.total_events,
        "first_tampered": result.first_tampered,
        "reason": result.reason,
        "chain_root_hash": result.chain_root_hash,
        "verified_at": format_timestamp(result.verified_at),
    }, 200


async def get_audit_chain_root(token_info: dict[str, Any]) -> Answer:
    root_hash, timestamp, total = await services().audit.chain_root()
    return {
        "root_hash": root_hash,
        "timestamp": None if timestamp is None else format_timestamp(timestamp),
        "total_events": total,
    }, 200
