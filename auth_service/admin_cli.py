"""What the `python -m auth_service` commands do: create or reset an admin, seed the local demo accounts.
They talk to PostgreSQL directly (migrating first), then tell the gateways the new token version."""

from __future__ import annotations

import logging

import nats

from auth_service import accounts, rules
from auth_service.app import AuthServiceSettings
from auth_service.passwords import hash_password
from auth_service.token_versions import TokenVersions
from podium_runtime import nats_access
from podium_runtime.connections import create_pg_pool, ensure_kv_buckets
from podium_runtime.migrations import apply_migrations, service_migrations
from podium_runtime.rpc import Refused
from proto.streams import TOKEN_VERSIONS

log = logging.getLogger(__name__)

DEMO_ADMIN = ("admin", "podium-admin")
DEMO_TEAM = ("demo-team", "podium-demo")


async def _publish_version(settings: AuthServiceSettings, account_id: int, version: int) -> None:
    try:
        client = await nats.connect(settings.nats_servers, connect_timeout=2, max_reconnect_attempts=0,
                                    **settings.nats_auth)
    except Exception as exc:  # NATS down: auth_service reconciles every version from PostgreSQL at its start
        log.warning("could not publish the token version; it is applied at auth_service's next start: %r", exc)
        return
    try:
        js = client.jetstream()
        await ensure_kv_buckets(js, settings.stream_replicas, nats_access.buckets("auth_service"))
        await TokenVersions(await js.key_value(TOKEN_VERSIONS.name)).publish(str(account_id), version)
    finally:
        await client.close()


async def create_account(
    settings: AuthServiceSettings, *, name: str, password: str, role: str, keep_existing: bool = False
) -> str:
    """Create the account, or (unless `keep_existing`) reset the password of the admin of that name."""
    name = rules.team_name(name)
    password_hash = await hash_password(rules.password(password))
    pool = await create_pg_pool(settings, max_size=2)
    try:
        async with pool.acquire() as conn:
            await apply_migrations(conn, accounts.SCHEMA, service_migrations("auth_service"))
            await accounts.key_names(conn)  # before auth_service's first start, the older names need their keys
            async with conn.transaction():
                existing = await accounts.by_name(conn, name)
                if existing is not None and existing["role"] != role:
                    raise Refused(409, f"{name!r} is already a {existing['role']} account")
                if existing is not None and keep_existing:
                    return f"{role} {name!r} exists (id {existing['id']}); left unchanged"
                if existing is not None:
                    row = await accounts.update(conn, existing, password_hash=password_hash)
                    message = f"{role} {name!r} (id {row['id']}): password reset, earlier tokens revoked"
                else:
                    row = await accounts.create(
                        conn, name=name, password_hash=password_hash, role=role, members=[],
                        max_size=settings.default_team_max_size,
                    )
                    message = f"{role} {name!r} created (id {row['id']})"
    finally:
        await pool.close()
    await _publish_version(settings, row["id"], row["token_version"])
    return message


async def seed_demo(settings: AuthServiceSettings) -> list[str]:
    results = []
    for role, (name, password) in (("admin", DEMO_ADMIN), ("team", DEMO_TEAM)):
        results.append(await create_account(settings, name=name, password=password, role=role, keep_existing=True))
    return results
