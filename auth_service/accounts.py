"""The `auth` schema's accounts (teams and admins) and members: reads, and changes that write their
`team.*` event through the outbox in the same transaction."""

from __future__ import annotations

import logging

import asyncpg

from auth_service import names
from podium_runtime.connections import PgConnection
from podium_runtime.outbox import Outbox
from podium_runtime.rpc import Refused
from proto.events import TeamCreated, TeamDeleted, TeamMember, TeamUpdated
from proto.identity import TeamView

SCHEMA = "auth"
outbox = Outbox(SCHEMA)
log = logging.getLogger(__name__)

_COLUMNS = "id, name, role, password_hash, token_version, revision, max_size, disabled, created_at, updated_at"


async def by_id(conn: PgConnection, account_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM auth.accounts WHERE id = $1 AND deleted_at IS NULL{lock}", account_id
    )


async def by_name(conn: PgConnection, name: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM auth.accounts WHERE lower(name) = lower($1) AND deleted_at IS NULL", name
    )


async def members_of(conn: PgConnection, account_id: int) -> list[TeamMember]:
    rows = await conn.fetch(
        "SELECT name, email FROM auth.members WHERE account_id = $1 ORDER BY position", account_id
    )
    return [TeamMember(name=r["name"], email=r["email"]) for r in rows]


async def view(conn: PgConnection, row: asyncpg.Record) -> TeamView:
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


async def list_teams(conn: PgConnection, skip: int, limit: int) -> list[TeamView]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM auth.accounts WHERE deleted_at IS NULL ORDER BY id OFFSET $1 LIMIT $2",
        skip,
        limit,
    )
    return [await view(conn, row) for row in rows]


async def _replace_members(conn: PgConnection, account_id: int, members: list[TeamMember]) -> None:
    await conn.execute("DELETE FROM auth.members WHERE account_id = $1", account_id)
    await conn.executemany(
        "INSERT INTO auth.members (account_id, position, name, email) VALUES ($1, $2, $3, $4)",
        [(account_id, position, m.name, m.email) for position, m in enumerate(members)],
    )


def _taken(name: str, *, lookalike: bool) -> Refused:
    if lookalike:
        # The other name is not quoted: a team renaming itself learns no account name it cannot see.
        return Refused(409, f"a team with a name that looks the same as {name!r} already exists; choose a name "
                            "that differs in its letters, not only in look-alike characters")
    return Refused(409, f"an account named {name!r} already exists")


def _name_taken(exc: asyncpg.UniqueViolationError, name: str) -> Refused:
    return _taken(name, lookalike=exc.constraint_name in ("accounts_name_skeleton_live",
                                                          "accounts_name_folded_skeleton_live"))


async def name_refusal(conn: PgConnection, name: str) -> Refused | None:
    """The refusal a new account named `name` meets because a live account has that name (or one that looks the
    same), or None. Asked before a new team's other fields are judged, so that a taken name is what the host hears
    first; the unique indexes still decide between two creations racing for one name."""
    keys = names.lookalike_keys(name)
    same = await conn.fetchval(
        "SELECT lower(name) = lower($1) FROM auth.accounts WHERE deleted_at IS NULL AND (lower(name) = lower($1) "
        "OR name_skeleton = $2 OR name_folded_skeleton = $3) ORDER BY 1 DESC LIMIT 1",
        name, keys.skeleton, keys.folded_skeleton)
    return None if same is None else _taken(name, lookalike=not same)


async def create(
    conn: PgConnection, *, name: str, password_hash: str, role: str, members: list[TeamMember], max_size: int,
    actor: str = "",
) -> asyncpg.Record:
    """Insert an account (inside the caller's transaction); a team also gets its TeamCreated event."""
    keys = names.lookalike_keys(name)
    try:
        async with conn.transaction():  # a savepoint: a duplicate name leaves the outer transaction usable
            row = await conn.fetchrow(
                f"INSERT INTO auth.accounts (name, role, password_hash, max_size, name_skeleton, name_folded_skeleton) "
                f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
                name,
                role,
                password_hash,
                max_size,
                keys.skeleton,
                keys.folded_skeleton,
            )
    except asyncpg.UniqueViolationError as exc:
        raise _name_taken(exc, name) from None
    assert row is not None  # INSERT … RETURNING returns the row it inserted
    await _replace_members(conn, row["id"], members)
    if role == "team":
        await outbox.add(conn, TeamCreated(team_id=str(row["id"]), name=name, members=tuple(members), revision=1,
                                           actor=actor))
    return row


async def update(
    conn: PgConnection,
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
    skeleton, folded_skeleton = names.lookalike_keys(name) if name is not None else (None, None)
    try:
        async with conn.transaction():
            updated = await conn.fetchrow(
                f"""UPDATE auth.accounts SET
                        name = coalesce($2, name),
                        password_hash = coalesce($3, password_hash),
                        max_size = coalesce($4, max_size),
                        disabled = coalesce($5, disabled),
                        token_version = token_version + $6,
                        name_skeleton = coalesce($7, name_skeleton),
                        name_folded_skeleton = coalesce($8, name_folded_skeleton),
                        revision = revision + 1,
                        updated_at = now()
                    WHERE id = $1 RETURNING {_COLUMNS}""",
                row["id"],
                name,
                password_hash,
                max_size,
                disabled,
                1 if revoke else 0,
                skeleton,
                folded_skeleton,
            )
    except asyncpg.UniqueViolationError as exc:
        raise _name_taken(exc, name or row["name"]) from None
    # Accounts are only ever soft-deleted (`delete`): the row the caller read is still there for UPDATE … RETURNING.
    assert updated is not None
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


async def delete(conn: PgConnection, row: asyncpg.Record, actor: str = "") -> None:
    """Soft delete: the name is free again, tokens are revoked, submissions elsewhere keep their team id."""
    revision = await conn.fetchval(
        "UPDATE auth.accounts SET deleted_at = now(), token_version = token_version + 1, revision = revision + 1, "
        "updated_at = now() WHERE id = $1 RETURNING revision",
        row["id"],
    )
    await conn.execute("DELETE FROM auth.refresh_tokens WHERE account_id = $1", row["id"])
    await outbox.add(conn, TeamDeleted(team_id=str(row["id"]), revision=revision, actor=actor))


async def live_token_versions(conn: PgConnection) -> dict[str, int]:
    """Every account that may hold a valid token, with its current version (for the gateways' KV)."""
    rows = await conn.fetch("SELECT id, token_version FROM auth.accounts WHERE deleted_at IS NULL AND NOT disabled")
    return {str(r["id"]): r["token_version"] for r in rows}


async def key_names(conn: PgConnection) -> int:
    """Give every live account the look-alike keys of its name (see names.py) where they are missing (rows from
    before migration 004) or differ (keys computed by another ICU version); run at start, before serving. Of two
    existing names that look the same, the older account keeps its keys and the newer is logged to be renamed (it
    stays without keys: only names like the older one's are refused meanwhile). Returns how many rows were keyed."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('auth.accounts name keys'))")
        rows = await conn.fetch(
            "SELECT id, name, name_skeleton, name_folded_skeleton FROM auth.accounts WHERE deleted_at IS NULL "
            "ORDER BY id"
        )
        stale = [(row, names.lookalike_keys(row["name"])) for row in rows]
        stale = [(row, keys) for row, keys in stale if (row["name_skeleton"], row["name_folded_skeleton"]) != keys]
        # Cleared first, so that a key moving from one row to an older one is not taken by its stale holder.
        await conn.execute(
            "UPDATE auth.accounts SET name_skeleton = NULL, name_folded_skeleton = NULL WHERE id = ANY($1::bigint[])",
            [row["id"] for row, _ in stale],
        )
        keyed = 0
        for row, keys in stale:
            try:
                async with conn.transaction():
                    await conn.execute(
                        "UPDATE auth.accounts SET name_skeleton = $2, name_folded_skeleton = $3 WHERE id = $1",
                        row["id"], keys.skeleton, keys.folded_skeleton,
                    )
                keyed += 1
            except asyncpg.UniqueViolationError:
                log.warning("an account's name looks the same as an older account's: rename one of them",
                            extra={"account_id": row["id"], "account_name": row["name"]})
    return keyed


async def counts(conn: PgConnection) -> dict[str, int]:
    """Live accounts by kind and their members (the admin's statistics)."""
    row = await conn.fetchrow(
        """SELECT
             (SELECT count(*) FROM auth.accounts WHERE deleted_at IS NULL AND role = 'team') AS teams,
             (SELECT count(*) FROM auth.accounts WHERE deleted_at IS NULL AND role = 'team' AND disabled)
                 AS disabled_teams,
             (SELECT count(*) FROM auth.accounts WHERE deleted_at IS NULL AND role = 'admin') AS admins,
             (SELECT count(*) FROM auth.members m JOIN auth.accounts a ON a.id = m.account_id
                 WHERE a.deleted_at IS NULL) AS members"""
    )
    assert row is not None  # a SELECT without FROM always returns its one row
    return dict(row.items())
