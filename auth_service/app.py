"""Composition root of auth_service: settings → connections → request/reply operations → lifespan."""

from __future__ import annotations

from datetime import timedelta

from faststream.asgi import AsgiFastStream
from pydantic import AliasChoices, Field, SecretStr

from auth_service import accounts, refresh_tokens
from auth_service.handlers import AuthHandlers, access_policy
from auth_service.keys import load_signing_key
from auth_service.login_failures import LoginLimit
from auth_service.token_versions import RevokedFamilies, TokenVersions
from podium_runtime.rpc import rpc_router
from podium_runtime.service import Runtime, ServiceSpec, create_service_app
from podium_runtime.settings import ServiceSettings
from proto.events import QuestionChanged, TeamCreated, TeamDeleted, TeamUpdated
from proto.streams import REVOKED_TOKEN_FAMILIES, TOKEN_VERSIONS


class AuthServiceSettings(ServiceSettings):
    service_name: str = "auth_service"
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


def create_handlers(settings: AuthServiceSettings) -> AuthHandlers:
    policy = access_policy(
        settings.jwt_issuer, settings.jwt_audience, settings.access_token_ttl_s, settings.refresh_token_ttl_s
    )
    limit = LoginLimit(settings.login_failures_per_account, timedelta(seconds=settings.login_lockout_s))
    return AuthHandlers(policy=policy, default_max_size=settings.default_team_max_size, login_limit=limit)


def create_app(settings: AuthServiceSettings) -> AsgiFastStream:
    handlers = create_handlers(settings)

    async def startup(runtime: Runtime) -> None:
        assert runtime.pool is not None
        handlers.pool = runtime.pool
        configured = settings.jwt_private_key_pem.get_secret_value() if settings.jwt_private_key_pem else None
        async with runtime.pool.acquire() as conn:
            handlers.key = await load_signing_key(conn, configured)
            await accounts.key_names(conn)
        js = runtime.broker.connection.jetstream()
        handlers.versions = TokenVersions(await js.key_value(TOKEN_VERSIONS.name))
        handlers.revoked_families = RevokedFamilies(await js.key_value(REVOKED_TOKEN_FAMILIES.name))
        await restore(runtime, frozenset())

    async def restore(runtime: Runtime, wiped: frozenset[str]) -> None:
        """The token versions bucket holds every live account's version, and the revoked families bucket every family
        revoked while its access tokens may live (at start, and again after JetStream's store was wiped with the
        buckets in it)."""
        assert runtime.pool is not None and handlers.versions is not None and handlers.revoked_families is not None
        async with runtime.pool.acquire() as conn:
            live = await accounts.live_token_versions(conn)
            # An access token lives access_ttl from its issue, so at most that long after its family's revocation
            # (plus a minute for clocks that differ between replicas).
            revoked = await refresh_tokens.revoked_since(conn, handlers.policy.access_ttl + timedelta(minutes=1))
        await handlers.versions.reconcile(live)
        await handlers.revoked_families.reconcile(revoked)

    spec = ServiceSpec(
        name="auth_service",
        schema=accounts.SCHEMA,
        package="auth_service",
        routers=(rpc_router("auth_service", handlers.operations()),),
        startup=startup,
        restore=restore,
        publishes=(TeamCreated, TeamUpdated, TeamDeleted, QuestionChanged),
    )
    return create_service_app(spec, settings)
