"""Migrations against the real PostgreSQL: applied once, recorded, idempotent, safe from two
processes at once, and an edited applied file is refused."""

from __future__ import annotations

import asyncio
import dataclasses

import asyncpg
import pytest

from podium_runtime.migrations import MigrationError, apply_migrations, service_migrations


async def recorded(pool: asyncpg.Pool, schema: str) -> list[tuple[str, int]]:
    rows = await pool.fetch(f"SELECT component, version FROM {schema}.schema_migrations ORDER BY component, version")
    return [(r["component"], r["version"]) for r in rows]


async def test_applies_once_and_a_second_run_is_a_no_op(pg_pool: asyncpg.Pool, unique: str) -> None:
    schema = f"t_{unique}"
    migrations = service_migrations("leaderboard_service")
    async with pg_pool.acquire() as conn:
        first = await apply_migrations(conn, schema, migrations)
        second = await apply_migrations(conn, schema, migrations)
    assert [m.name for m in first] == [m.name for m in migrations]
    assert second == []
    assert await recorded(pg_pool, schema) == sorted((m.component, m.version) for m in migrations)
    # The runtime's migration really ran inside the schema: the outbox table is there.
    assert await pg_pool.fetchval(f"SELECT count(*) FROM {schema}.outbox") == 0


async def test_two_processes_migrating_at_once_apply_each_file_once(pg_pool: asyncpg.Pool, unique: str) -> None:
    schema = f"t_{unique}"
    migrations = service_migrations("submission_service")

    async def migrate() -> int:
        async with pg_pool.acquire() as conn:
            return len(await apply_migrations(conn, schema, migrations))

    applied = await asyncio.gather(*(migrate() for _ in range(4)))
    assert sorted(applied) == [0, 0, 0, len(migrations)]
    assert len(await recorded(pg_pool, schema)) == len(migrations)


async def test_an_applied_migration_edited_afterwards_is_refused(pg_pool: asyncpg.Pool, unique: str) -> None:
    schema = f"t_{unique}"
    migrations = service_migrations("auth_service")
    async with pg_pool.acquire() as conn:
        await apply_migrations(conn, schema, migrations)
        edited = [dataclasses.replace(migrations[0], sql=migrations[0].sql + "\n-- edited")] + migrations[1:]
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await apply_migrations(conn, schema, edited)


async def test_a_failing_migration_leaves_nothing_half_applied(pg_pool: asyncpg.Pool, unique: str) -> None:
    schema = f"t_{unique}"
    good = service_migrations("auth_service")
    broken = dataclasses.replace(good[-1], component="broken", version=1, sql="CREATE TABLE x (); SELEC oops;")
    async with pg_pool.acquire() as conn:
        with pytest.raises(asyncpg.PostgresSyntaxError):
            await apply_migrations(conn, schema, good + [broken])
    exists = await pg_pool.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema)
    assert exists == 0
