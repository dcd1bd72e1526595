"""Composition root of the gateway: settings → Deps (`gateway.bootstrap`: the bus, its KV buckets, an HTTP client) →
the gateway's parts (the service client, identity, boards, the live hub) → routes, middleware and lifespan. Every
request is traced (OpenTelemetry, context passed on to the services over NATS) and counted at `/metrics` under the
names the LUNA seed used (`http_requests_total`, `http_request_duration_seconds`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Litestar, Request
from litestar.config.cors import CORSConfig
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.plugins.prometheus import PrometheusConfig
from litestar.types import ControllerRouterHandler, Middleware
from nats.aio.client import Client as NatsClient
from opentelemetry.trace import Span

from gateway.api_docs import docs_asset, swagger_page
from gateway.boards import Boards
from gateway.bootstrap import NAME, Deps, GatewaySettings, bootstrap, create_bus
from gateway.competition_pushes import push_competition_changes
from gateway.health import HealthController
from gateway.identity import Identity, TokenMiddleware
from gateway.kv_store import NatsKVStore
from gateway.live import LiveHub, board_socket, live_messages_schema, live_socket
from gateway.metrics_access import metrics_controller, parse_networks
from gateway.problems import EXCEPTION_HANDLERS, GatewayRequest, problem_details_plugin
from gateway.rate_limit import SharedRateLimitMiddleware
from gateway.routes_competition import AdminCompetitionController, CompetitionController
from gateway.routes_identity import IdentityController
from gateway.routes_leaderboard import BoardAdminController, LeaderboardController
from gateway.routes_mls_goat import MlsGoatController
from gateway.routes_qa import QAController
from gateway.routes_submissions import AdminSubmissionController, SubmissionController
from gateway.routes_teams import AdminTeamController, TeamController
from gateway.services import ServiceClient
from gateway.tokens import TokenVerifier
from gateway.web import web_page
from podium_runtime import nats_access
from podium_runtime.bus import BusKeeper
from podium_runtime.kv_watch import follow
from podium_runtime.logging import redact_queries
from podium_runtime.service import Bus
from proto.streams import LEADERBOARDS, REVOKED_TOKEN_FAMILIES, TOKEN_VERSIONS

__all__ = ["Gateway", "GatewaySettings", "assemble", "create_app"]

# The back-end services whose health the gateway reports at /api/v1/health.
BACKEND_SERVICES = ("auth_service", "submission_service", "cpu_scorer", "gpu_scorer", "leaderboard_service")
HEALTH_PATHS = ["/health", "/readiness", "/liveness"]
# Probes and scrapes are neither rate limited, nor counted, nor traced.
UNMETERED_PATHS = [*HEALTH_PATHS, "/metrics"]
# The web page and the API documentation's static files (patterns, anchored): never rate limited. A browser loads a
# dozen of them per visit, and a classroom behind one address would otherwise spend its API allowance on them — a
# page whose modules were refused 429 stays blank. They are fixed files, cheap to serve; the API stays limited.
STATIC_PATHS = ["^/$", "^/app/", "^/docs/assets/"]
# The rate limiter's store: the `rate_limits` bucket, shared by every replica (registered once the bus is there).
RATE_LIMIT_STORE = "rate_limit"


def rate_limit_identity(request: Request[Any, Any, Any]) -> str:
    user = request.scope.get("user")
    if user is not None:
        return f"account:{user.account_id}"
    client = request.client
    return f"ip:{client.host if client else 'unknown'}"


def redact_span_url(span: Span, scope: dict[str, Any]) -> None:
    """A request's span keeps its URL without the query string, which may carry a credential."""
    if span.is_recording() and scope.get("query_string"):
        url = getattr(span, "attributes", {}).get("http.url")  # the SDK's spans have attributes; the API's do not
        if isinstance(url, str):
            span.set_attribute("http.url", redact_queries(url))
        span.set_attribute("url.query", "[redacted]")


def cors_config(settings: GatewaySettings) -> CORSConfig | None:
    origins = settings.cors_allow_origins or (["*"] if settings.environment == "development" else [])
    return CORSConfig(allow_origins=origins, allow_credentials="*" not in origins) if origins else None


@dataclass(frozen=True)
class Gateway:
    """The gateway's own parts, built with the app from its bus (connected or not yet): what the routes, the
    middleware and the lifespan's tasks use."""

    settings: GatewaySettings
    bus: Bus
    services: ServiceClient
    identity: Identity
    boards: Boards
    live: LiveHub


def assemble(settings: GatewaySettings, bus: Bus) -> Gateway:
    services = ServiceClient(bus.broker, settings.service_timeout_s)
    identity = Identity(TokenVerifier(settings.jwt_issuer, settings.jwt_audience, keys={}, versions={}), services)
    boards, live = Boards(), LiveHub()
    boards.listeners.append(live.on_board)  # every board change reaches the sockets
    return Gateway(settings, bus, services, identity, boards, live)


def background_work(gateway: Gateway) -> list[Coroutine[Any, Any, None]]:
    """What runs while the gateway is up: the KV followers (token versions, revoked logins, boards), the JWKS fetch,
    and the keeper that declares the streams and buckets again after a NATS restart that wiped its store."""
    bus, identity = gateway.bus, gateway.identity

    def connection() -> NatsClient:
        return bus.broker.connection

    return [
        follow(connection, TOKEN_VERSIONS.name, identity.apply_version, bus.reconnects),
        follow(connection, REVOKED_TOKEN_FAMILIES.name, identity.apply_revoked_family, bus.reconnects),
        identity.keep_jwks(),
        follow(connection, LEADERBOARDS.name, gateway.boards.apply, bus.reconnects),
        BusKeeper(bus.jetstream, replicas=gateway.settings.stream_replicas, buckets=nats_access.buckets(NAME),
                  updates=nats_access.streams_owned(NAME)).run(bus.reconnects),
    ]


def wire(app: Litestar, deps: Deps) -> None:
    """Hand the Deps to what uses them: the rate limiter's store, and the routes' state."""
    app.stores.register(RATE_LIMIT_STORE, NatsKVStore(deps.rate_limits), allow_override=True)
    app.state.http = deps.http
    app.state.gateway_settings = deps.gateway_settings
    app.state.competition = deps.competition


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def lifespan(gateway: Gateway, deps: Deps | None) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Open the Deps (unless given: whoever opened them closes them), start the live hub and the background work
    (the competition's pushes among it); stop them in the reverse order."""

    @asynccontextmanager
    async def running(app: Litestar) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as opened:
            used = deps
            if used is None:
                used = await opened.enter_async_context(bootstrap(gateway.settings, gateway.bus))
                wire(app, used)
            await gateway.live.start(gateway.bus.broker.connection)
            opened.push_async_callback(gateway.live.stop)
            work = [*background_work(gateway), push_competition_changes(used.competition, gateway.live.broadcast)]
            tasks = [asyncio.create_task(each) for each in work]
            opened.push_async_callback(_cancel, tasks)
            yield

    return running


def route_handlers(settings: GatewaySettings) -> list[ControllerRouterHandler]:
    return [
        HealthController, IdentityController, TeamController, AdminTeamController, QAController,
        SubmissionController, AdminSubmissionController, LeaderboardController, BoardAdminController,
        CompetitionController, AdminCompetitionController, MlsGoatController,
        live_socket, board_socket, live_messages_schema,
        metrics_controller(parse_networks(settings.metrics_allow)),
        web_page, docs_asset,
    ]


def middleware(settings: GatewaySettings, identity: Identity) -> list[Middleware]:
    """Outermost first: count the request, read its token, then hold its caller to the rate limit."""
    rate_limit = RateLimitConfig(
        rate_limit=("minute", settings.rate_limit_per_minute),
        identifier_for_request=rate_limit_identity,
        exclude=[*UNMETERED_PATHS, *STATIC_PATHS],
        store=RATE_LIMIT_STORE,
        middleware_class=SharedRateLimitMiddleware,  # counted once across processes and replicas
    )
    # group_path: one series per route template, not per submission id.
    prometheus = PrometheusConfig(app_name="gateway", prefix="http", group_path=True, exclude=UNMETERED_PATHS)
    return [prometheus.middleware, TokenMiddleware(identity), rate_limit.middleware]


def telemetry() -> OpenTelemetryPlugin:
    # One span per request (not one more per ASGI message); the plugin wraps the app outermost.
    return OpenTelemetryPlugin(OpenTelemetryConfig(exclude=UNMETERED_PATHS, exclude_spans=["receive", "send"],
                                                   server_request_hook_handler=redact_span_url))


def create_app(settings: GatewaySettings, deps: Deps | None = None) -> Litestar:
    """The gateway's app; building it connects to nothing. Without `deps` its lifespan opens them
    (`gateway.bootstrap`) and closes them at shutdown; with `deps` (a test's, opened with `bootstrap`) they are used
    as they are."""
    gateway = assemble(settings, deps.bus if deps is not None else create_bus(settings))
    app = Litestar(
        route_handlers=route_handlers(settings),
        lifespan=[lifespan(gateway, deps)],
        middleware=middleware(settings, gateway.identity),
        plugins=[problem_details_plugin(), telemetry()],
        exception_handlers=EXCEPTION_HANDLERS,
        cors_config=cors_config(settings),
        request_max_body_size=settings.max_request_body_bytes,
        request_class=GatewayRequest,
        openapi_config=OpenAPIConfig(
            title="Podium API", version="1", path="/docs", render_plugins=[swagger_page()]
        ),
    )
    app.state.settings = settings
    app.state.broker = gateway.bus.broker
    app.state.services = gateway.services
    app.state.identity = gateway.identity
    app.state.boards = gateway.boards
    app.state.live = gateway.live
    app.state.backend_services = BACKEND_SERVICES
    if deps is not None:
        wire(app, deps)
    return app
