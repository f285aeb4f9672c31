"""Creating and revoking API keys (used by the API and the CLI alike)."""

from __future__ import annotations

from runplane.errors import Conflict, NotFound
from runplane.security import generate_key, hash_key, key_prefix
from runplane.store.keys import KeyStore
from runplane.store.tables import ApiKeyRow


async def create_key(
    store: KeyStore, *, name: str, role: str, user_id: str | None = None
) -> tuple[ApiKeyRow, str]:
    """Returns the stored row and the secret, which exists nowhere else from now on."""
    if await store.name_in_use(name):
        raise Conflict(f"An active key named '{name}' already exists", details={"field": "name"})
    secret = generate_key()
    row = await store.create(
        name=name, role=role, user_id=user_id or name, key_hash=hash_key(secret), prefix=key_prefix(secret)
    )
    return row, secret


async def revoke_key(store: KeyStore, key_id: str) -> None:
    if not await store.revoke(key_id):
        raise NotFound("API key not found")
