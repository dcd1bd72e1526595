"""The `auth` schema's accounts (teams and admins) and members: reads, and changes that write their
`team.*` event through the outbox in the same transaction."""

from __future__ import annotations

import asyncpg

from podium_runtime.outbox import Outbox
from podium_runtime.rpc import Refused
from proto.events import TeamCreated, TeamDeleted, TeamMember, TeamUpdated
from proto.identity import TeamView

SCHEMA = "auth"
outbox = Outbox(SCHEMA)

_COLUMNS = "id, name, role, password_hash, token_version, revision, max_size, disabled, created_at, updated_at"


async def by_id(conn: asyncpg.Connection, account_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM auth.accounts WHERE id = $1 AND deleted_at IS NULL{lock}", account_id
    )


async def by_name(conn: asyncpg.Connection, name: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM auth.accounts WHERE lower(name) = lower($1) AND deleted_at IS NULL", name
    )


async def members_of(conn: asyncpg.Connection, account_id: int) -> list[TeamMember]:
    rows = await conn.fetch(
        "SELECT name, email FROM auth.members WHERE account_id = $1 ORDER BY position", account_id
    )
    return [TeamMember(name=r["name"], email=r["email"]) for r in rows]


async def view(conn: asyncpg.Connection, row: asyncpg.Record) -> TeamView:
    return TeamView(
        id=row["id"],
        name=row["name"],
        is_admin=row["role"] == "admin",
        members=await members_of(conn, row["id"]),
        max_size=row["max_size"],
        disabled=row["disabled"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def list_teams(conn: asyncpg.Connection, skip: int, limit: int) -> list[TeamView]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM auth.accounts WHERE deleted_at IS NULL ORDER BY id OFFSET $1 LIMIT $2",
        skip,
        limit,
    )
    return [await view(conn, row) for row in rows]


async def _replace_members(conn: asyncpg.Connection, account_id: int, members: list[TeamMember]) -> None:
    await conn.execute("DELETE FROM auth.members WHERE account_id = $1", account_id)
    await conn.executemany(
        "INSERT INTO auth.members (account_id, position, name, email) VALUES ($1, $2, $3, $4)",
        [(account_id, position, m.name, m.email) for position, m in enumerate(members)],
    )


async def create(
    conn: asyncpg.Connection, *, name: str, password_hash: str, role: str, members: list[TeamMember], max_size: int,
    actor: str = "",
) -> asyncpg.Record:
    """Insert an account (inside the caller's transaction); a team also gets its TeamCreated event."""
    try:
        async with conn.transaction():  # a savepoint: a duplicate name leaves the outer transaction usable
            row = await conn.fetchrow(
                f"INSERT INTO auth.accounts (name, role, password_hash, max_size) VALUES ($1, $2, $3, $4) "
                f"RETURNING {_COLUMNS}",
                name,
                role,
                password_hash,
                max_size,
            )
    except asyncpg.UniqueViolationError:
        raise Refused(409, f"an account named {name!r} already exists") from None
    await _replace_members(conn, row["id"], members)
    if role == "team":
        await outbox.add(conn, TeamCreated(team_id=str(row["id"]), name=name, members=tuple(members), revision=1,
                                           actor=actor))
    return row


async def update(
    conn: asyncpg.Connection,
    row: asyncpg.Record,
    *,
    name: str | None = None,
    password_hash: str | None = None,
    members: list[TeamMember] | None = None,
    max_size: int | None = None,
    disabled: bool | None = None,
    actor: str = "",
) -> asyncpg.Record:
    """Apply the given changes; a new password or a disable bumps the token version (revoking tokens)."""
    revoke = password_hash is not None or (disabled is True and not row["disabled"])
    try:
        async with conn.transaction():
            updated = await conn.fetchrow(
                f"""UPDATE auth.accounts SET
                        name = coalesce($2, name),
                        password_hash = coalesce($3, password_hash),
                        max_size = coalesce($4, max_size),
                        disabled = coalesce($5, disabled),
                        token_version = token_version + $6,
                        revision = revision + 1,
                        updated_at = now()
                    WHERE id = $1 RETURNING {_COLUMNS}""",
                row["id"],
                name,
                password_hash,
                max_size,
                disabled,
                1 if revoke else 0,
            )
    except asyncpg.UniqueViolationError:
        raise Refused(409, f"an account named {name!r} already exists") from None
    if members is not None:
        await _replace_members(conn, row["id"], members)
    if updated["role"] == "team":
        await outbox.add(
            conn,
            TeamUpdated(
                team_id=str(updated["id"]),
                name=updated["name"],
                revision=updated["revision"],
                members=tuple(await members_of(conn, updated["id"])),
                disabled=updated["disabled"],
                actor=actor,
            ),
        )
    return updated


async def delete(conn: asyncpg.Connection, row: asyncpg.Record, actor: str = "") -> None:
    """Soft delete: the name is free again, tokens are revoked, submissions elsewhere keep their team id."""
    revision = await conn.fetchval(
        "UPDATE auth.accounts SET deleted_at = now(), token_version = token_version + 1, revision = revision + 1, "
        "updated_at = now() WHERE id = $1 RETURNING revision",
        row["id"],
    )
    await conn.execute("DELETE FROM auth.refresh_tokens WHERE account_id = $1", row["id"])
    await outbox.add(conn, TeamDeleted(team_id=str(row["id"]), revision=revision, actor=actor))


async def live_token_versions(conn: asyncpg.Connection) -> dict[str, int]:
    """Every account that may hold a valid token, with its current version (for the gateways' KV)."""
    rows = await conn.fetch("SELECT id, token_version FROM auth.accounts WHERE deleted_at IS NULL AND NOT disabled")
    return {str(r["id"]): r["token_version"] for r in rows}
