"""The `auth.refresh_tokens` table. A refresh token is single use: a refresh spends it and issues its successor in
the same family (the login both descend from). A spent token presented again means that a copy of it is in two
hands, and there is no telling whose is the genuine one: the whole family is revoked (RFC 6819 §5.2.2.3, the OAuth
2.0 Security BCP's refresh token rotation), its live refresh tokens here and its access tokens at the gateways."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg

from podium_runtime.connections import PgConnection


def new_family() -> str:
    return str(uuid.uuid4())


async def add(
    conn: PgConnection, *, digest: str, account_id: int, token_version: int, family_id: str,
    expires_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO auth.refresh_tokens (digest, account_id, token_version, family_id, expires_at) "
        "VALUES ($1, $2, $3, $4::uuid, $5)",
        digest, account_id, token_version, family_id, expires_at,
    )


async def spend(conn: PgConnection, digest: str) -> asyncpg.Record | None:
    """Mark a live token spent: its account, token version and family; None when it is unknown, spent, revoked or
    expired."""
    return await conn.fetchrow(
        "UPDATE auth.refresh_tokens SET used_at = now() "
        "WHERE digest = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now() "
        "RETURNING account_id, token_version, family_id::text",
        digest,
    )


async def revoke_family_of_spent(conn: PgConnection, digest: str) -> asyncpg.Record | None:
    """When `digest` is a token already spent (expired or not), revoke every token of its family; its family id and
    account id (None for any other token). Presented again, it revokes nothing new and answers the same."""
    spent = await conn.fetchrow(
        "SELECT family_id::text, account_id FROM auth.refresh_tokens WHERE digest = $1 AND used_at IS NOT NULL",
        digest,
    )
    if spent is not None:
        await conn.execute(
            "UPDATE auth.refresh_tokens SET revoked_at = now() WHERE family_id = $1::uuid AND revoked_at IS NULL",
            spent["family_id"],
        )
    return spent


async def revoked_since(conn: PgConnection, window: timedelta) -> dict[str, str]:
    """Families revoked within `window` (family id -> account id): those whose access tokens may still be live."""
    rows = await conn.fetch(
        "SELECT DISTINCT family_id::text, account_id FROM auth.refresh_tokens WHERE revoked_at > now() - $1::interval",
        window,
    )
    return {row["family_id"]: str(row["account_id"]) for row in rows}
