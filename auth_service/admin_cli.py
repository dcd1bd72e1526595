"""What the `python -m auth_service` commands do: create or reset an admin, seed the local demo accounts. They
open the service's own bootstrap (migrations applied, names keyed, the token buckets at hand), write the account,
then tell the gateways its token version."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from auth_service import accounts, rules
from auth_service.bootstrap import NAME, AuthServiceSettings, Deps, bootstrap
from auth_service.passwords import hash_password
from podium_runtime.rpc import Refused
from podium_runtime.service import command_bus

DEMO_ADMIN = ("admin", "podium-admin")
DEMO_TEAM = ("demo-team", "podium-demo")


@asynccontextmanager
async def _opened(settings: AuthServiceSettings) -> AsyncIterator[Deps]:
    async with command_bus(NAME, settings) as bus, bootstrap(settings, bus, pool_size=2) as deps:
        yield deps


async def _put_account(deps: Deps, settings: AuthServiceSettings, *, name: str, password_hash: str, role: str,
                       keep_existing: bool) -> str:
    async with deps.pool.acquire() as conn, conn.transaction():
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
    await deps.versions.publish(str(row["id"]), row["token_version"])
    return message


async def create_account(
    settings: AuthServiceSettings, *, name: str, password: str, role: str, keep_existing: bool = False
) -> str:
    """Create the account, or (unless `keep_existing`) reset the password of the admin of that name."""
    name = rules.team_name(name)
    password_hash = await hash_password(rules.password(password))
    async with _opened(settings) as deps:
        return await _put_account(deps, settings, name=name, password_hash=password_hash, role=role,
                                  keep_existing=keep_existing)


async def seed_demo(settings: AuthServiceSettings) -> list[str]:
    results = []
    async with _opened(settings) as deps:
        for role, (name, password) in (("admin", DEMO_ADMIN), ("team", DEMO_TEAM)):
            results.append(await _put_account(deps, settings, name=name, password_hash=await hash_password(password),
                                              role=role, keep_existing=True))
    return results
