"""The JWT signing key: the one given by setting, or else one generated once and kept in PostgreSQL so
every auth_service replica (and every restart) signs with the same key."""

from __future__ import annotations

from auth_service.tokens import SigningKey
from podium_runtime.connections import PgConnection


async def load_signing_key(conn: PgConnection, configured_pem: str | None) -> SigningKey:
    if configured_pem:
        return SigningKey.from_pem(configured_pem)
    async with conn.transaction():
        # Two replicas starting at once must not each invent a key.
        await conn.execute("LOCK TABLE auth.signing_keys IN EXCLUSIVE MODE")
        pem = await conn.fetchval("SELECT private_pem FROM auth.signing_keys ORDER BY created_at DESC LIMIT 1")
        if pem is not None:
            return SigningKey.from_pem(pem)
        key = SigningKey.generate()
        await conn.execute(
            "INSERT INTO auth.signing_keys (kid, private_pem) VALUES ($1, $2)", key.kid, key.private_pem()
        )
        return key
