"""Composition root of auth_service: settings → Deps (`auth_service.bootstrap`) → the handlers → the
request/reply operations → lifespan (the token buckets reconciled from PostgreSQL at start)."""

from __future__ import annotations

from datetime import timedelta

from faststream.asgi import AsgiFastStream

from auth_service import accounts
from auth_service.bootstrap import NAME, AuthServiceSettings, Deps, bootstrap
from auth_service.handlers import AuthHandlers, access_policy, create_router
from auth_service.login_failures import LoginLimit
from podium_runtime.service import ServiceSpec, Wired, Wiring, create_bus, create_service_app
from proto.events import QuestionChanged, TeamCreated, TeamDeleted, TeamUpdated

__all__ = ["AuthServiceSettings", "create_app", "create_handlers", "wire"]


def create_handlers(settings: AuthServiceSettings, deps: Deps) -> AuthHandlers:
    policy = access_policy(
        settings.jwt_issuer, settings.jwt_audience, settings.access_token_ttl_s, settings.refresh_token_ttl_s
    )
    limit = LoginLimit(settings.login_failures_per_account, timedelta(seconds=settings.login_lockout_s))
    return AuthHandlers(policy=policy, default_max_size=settings.default_team_max_size, login_limit=limit,
                        pool=deps.pool, key=deps.key, versions=deps.versions, revoked_families=deps.revoked_families)


def wire(settings: AuthServiceSettings, deps: Deps) -> Wired:
    handlers = create_handlers(settings, deps)
    # started: the gateways' token buckets agree with PostgreSQL before the first request is answered.
    return Wired(context={"handlers": handlers}, pool=deps.pool, started=handlers.reconcile_revocations,
                 restore=handlers.restore)


def create_app(settings: AuthServiceSettings, deps: Deps | None = None) -> AsgiFastStream:
    spec = ServiceSpec(
        name=NAME,
        schema=accounts.SCHEMA,
        routers=(create_router(NAME),),
        publishes=(TeamCreated, TeamUpdated, TeamDeleted, QuestionChanged),
    )
    bus = deps.bus if deps is not None else create_bus(NAME, settings)
    return create_service_app(spec, settings, Wiring(
        bus=bus, bootstrap=lambda bus: bootstrap(settings, bus), wire=lambda deps: wire(settings, deps), deps=deps))
