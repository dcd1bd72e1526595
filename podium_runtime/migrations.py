"""Versioned SQL migrations, one Postgres schema per service.

Each service ships numbered files (`001_init.sql`, `002_….sql`) in its `sql/` folder; they are written
without schema names and run with `search_path` set to the service's schema. The shared runtime adds its
own component (the outbox table) to every data-owning schema the same way.

Applied files are recorded in `<schema>.schema_migrations` with a checksum. A transaction-scoped advisory
lock per schema serializes concurrent starters (two replicas booting at once): the second waits, then
finds everything applied and does nothing. An applied file whose content changed is refused loudly rather
than silently skipped — migrations are append-only.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from podium_runtime.connections import PgConnection

_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# The runtime's own migrations (the outbox), applied to every data-owning schema.
RUNTIME_COMPONENT = "podium_runtime"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(package: str, component: str | None = None) -> list[Migration]:
    """Read `<package>/sql/NNN_name.sql` in version order; refuse gaps, duplicates and stray names."""
    folder: Traversable = resources.files(package) / "sql"
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE.fullmatch(entry.name)
        if match is None:
            raise MigrationError(f"{package}/sql/{entry.name}: name must look like 001_some_name.sql")
        found.append(Migration(component or package, int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"{package}/sql: versions must run 1, 2, 3… without gaps, got {versions}")
    return found


def _lock_key(schema: str) -> int:
    # A stable 32-bit key per schema (Python's hash() is salted per process, so not usable here).
    return zlib.crc32(f"podium-migrations:{schema}".encode())


async def apply_migrations(conn: PgConnection, schema: str, migrations: list[Migration]) -> list[Migration]:
    """Apply what is not yet applied, in one transaction; return the newly applied migrations."""
    if not _SCHEMA.fullmatch(schema):
        raise MigrationError(f"invalid schema name {schema!r}")
    applied_now: list[Migration] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(schema))
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                    component text NOT NULL,
                    version integer NOT NULL,
                    name text NOT NULL,
                    checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (component, version))"""
        )
        rows = await conn.fetch(f"SELECT component, version, checksum FROM {schema}.schema_migrations")
        done = {(r["component"], r["version"]): r["checksum"] for r in rows}
        await conn.execute(f"SET LOCAL search_path TO {schema}, public")
        for migration in migrations:
            key = (migration.component, migration.version)
            if key in done:
                if done[key] != migration.checksum:
                    raise MigrationError(
                        f"{schema}: migration {migration.component} {migration.version:03d}_{migration.name} "
                        "was changed after it was applied; add a new migration instead"
                    )
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                f"INSERT INTO {schema}.schema_migrations (component, version, name, checksum) VALUES ($1, $2, $3, $4)",
                migration.component,
                migration.version,
                migration.name,
                migration.checksum,
            )
            applied_now.append(migration)
    return applied_now


def service_migrations(package: str) -> list[Migration]:
    """The runtime's outbox migrations followed by the service's own."""
    return load_migrations("podium_runtime", RUNTIME_COMPONENT) + load_migrations(package)
