"""auth_service's dependencies, built in one place (`podium_runtime.service` describes the shape): its settings,
`Deps` and `bootstrap`, which the app's lifespan opens, the admin commands (`python -m auth_service create-admin`,
`seed-demo`) open as well, and a test may open (or fake) itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from pydantic import AliasChoices, Field, SecretStr

from auth_service import accounts
from auth_service.keys import load_signing_key
from auth_service.token_versions import RevokedFamilies, TokenVersions
from auth_service.tokens import SigningKey
from podium_runtime.service import Bus, connect_bus, open_database
from podium_runtime.settings import ServiceSettings
from proto.streams import REVOKED_TOKEN_FAMILIES, TOKEN_VERSIONS

NAME = "auth_service"


class AuthServiceSettings(ServiceSettings):
    service_name: str = NAME
    http_port: int = Field(default=8101, validation_alias=AliasChoices("PODIUM_AUTH_SERVICE_HTTP_PORT"))
    jwt_issuer: str = "podium"
    jwt_audience: str = "podium-api"
    # Short-lived access tokens; the refresh token (single use, rotated) renews them.
    access_token_ttl_s: int = Field(default=900, ge=30)
    refresh_token_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    # An Ed25519 private key (PKCS#8 PEM); when unset, one is generated once and kept in the database.
    jwt_private_key_pem: SecretStr | None = None
    default_team_max_size: int = Field(default=5, ge=1, le=100)
    # Failed logins per account name (known or not) within PODIUM_LOGIN_LOCKOUT_S of the first, from any
    # address, before that name's logins are refused (429) for the rest of that window: an address-based limit is
    # evaded by changing address, and each attempt costs an argon2 verification.
    login_failures_per_account: int = Field(default=10, ge=1)
    login_lockout_s: int = Field(default=900, ge=1)


@dataclass(frozen=True)
class Deps:
    bus: Bus
    pool: asyncpg.Pool
    key: SigningKey  # signs the access tokens; its public half is the JWKS
    versions: TokenVersions  # the `token_versions` bucket the gateways watch
    revoked_families: RevokedFamilies  # the `revoked_token_families` bucket


@asynccontextmanager
async def bootstrap(settings: AuthServiceSettings, bus: Bus, *, pool_size: int | None = None) -> AsyncIterator[Deps]:
    """`pool_size`: the database pool's size where not the settings' (a command needs few connections)."""
    await connect_bus(bus, settings)
    async with open_database(settings, accounts.SCHEMA, NAME, max_size=pool_size) as pool:
        configured = settings.jwt_private_key_pem.get_secret_value() if settings.jwt_private_key_pem else None
        async with pool.acquire() as conn:
            key = await load_signing_key(conn, configured)
            await accounts.key_names(conn)  # before serving: names from before migration 004 need their keys
        js = bus.jetstream()
        yield Deps(bus=bus, pool=pool, key=key, versions=TokenVersions(await js.key_value(TOKEN_VERSIONS.name)),
                   revoked_families=RevokedFamilies(await js.key_value(REVOKED_TOKEN_FAMILIES.name)))
