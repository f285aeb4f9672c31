"""Operations of the Keys tag (admin only, as the contract's x-roles says)."""

from __future__ import annotations

from typing import Any

from generated import models
from handlers import presenters
from handlers.context import services
from runplane.keys import create_key as create
from runplane.keys import revoke_key as revoke

Answer = tuple[dict[str, Any], int]


async def create_key(body: dict[str, Any]) -> Answer:
    request = models.ApiKeyCreate.model_validate(body)
    row, secret = await create(
        services().keys,
        name=request.name,
        role=request.role.value,
        user_id=request.user_id.root if request.user_id else None,
    )
    return presenters.dump(presenters.api_key_created(row, secret)), 201


async def list_keys(limit: int = 50, offset: int = 0) -> Answer:
    rows, total = await services().keys.page(limit=limit, offset=offset)
    page = models.ApiKeyList(
        keys=[presenters.api_key(row) for row in rows], total=total, limit=limit, offset=offset
    )
    return presenters.dump(page), 200


async def revoke_key(key_id: str) -> tuple[None, int]:
    await revoke(services().keys, key_id)
    return None, 204
