"""Composition root of the gateway: settings → NATS connection → identity → routes, middleware, lifespan.
Every request is traced (OpenTelemetry, context passed on to the services over NATS) and counted at
`/metrics` under the names the LUNA seed used (`http_requests_total`, `http_request_duration_seconds`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from faststream.nats import NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from litestar import Litestar, Request
from litestar.config.cors import CORSConfig
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.plugins.prometheus import PrometheusConfig
from litestar.stores.registry import StoreRegistry
from opentelemetry.trace import Span
from pydantic import AliasChoices, Field, field_validator

from gateway.api_docs import docs_asset, swagger_page
from gateway.boards import Boards
from gateway.health import HealthController
from gateway.identity import Identity, TokenMiddleware
from gateway.kv_store import NatsKVStore
from gateway.live import LiveHub, board_socket, live_messages_schema, live_socket
from gateway.metrics_access import LOOPBACK, metrics_controller, parse_networks
from gateway.problems import EXCEPTION_HANDLERS, GatewayRequest, problem_details_plugin
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
from podium_runtime.connections import ensure_kv_buckets, ensure_streams
from podium_runtime.kv_watch import Reconnects, follow
from podium_runtime.logging import redact_queries
from podium_runtime.settings import ServiceSettings
from proto.streams import GATEWAY_SETTINGS, LEADERBOARDS, RATE_LIMITS, REVOKED_TOKEN_FAMILIES, TOKEN_VERSIONS

# The back-end services whose health the gateway reports at /api/v1/health.
BACKEND_SERVICES = ("auth_service", "submission_service", "cpu_scorer", "gpu_scorer", "leaderboard_service")
HEALTH_PATHS = ["/health", "/readiness", "/liveness"]
# Probes and scrapes are neither rate limited, nor counted, nor traced.
UNMETERED_PATHS = [*HEALTH_PATHS, "/metrics"]


class GatewaySettings(ServiceSettings):
    service_name: str = "gateway"
    http_port: int = Field(default=8000, validation_alias=AliasChoices("PODIUM_GATEWAY_HTTP_PORT"))
    cors_allow_origins: list[str] = []
    # Requests per minute per team (or per IP address when anonymous), shared by every gateway replica.
    rate_limit_per_minute: int = Field(default=600, ge=1)
    jwt_issuer: str = "podium"
    jwt_audience: str = "podium-api"
    # How long the gateway waits for a service's answer over NATS before answering 503.
    service_timeout_s: float = 5.0
    max_request_body_bytes: int = 16 * 1024 * 1024
    # Who may read /metrics (comma-separated addresses or networks), checked against the connection's peer (the
    # forwarded client behind a PODIUM_TRUSTED_PROXIES proxy); others get 404. Default: this machine only.
    metrics_allow: str = LOOPBACK
    # Where participants reach this gateway (e.g. https://podium.example.org), for the URLs it hands out (MLS-GOAT's
    # `GET /gpu-server-ip`); empty: the URL of each request.
    public_url: str = ""

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value


def rate_limit_identity(request: Request) -> str:
    user = request.scope.get("user")
    if user is not None:
        return f"account:{user.account_id}"
    client = request.client
    return f"ip:{client.host if client else 'unknown'}"


def redact_span_url(span: Span, scope: dict[str, Any]) -> None:
    """A request's span keeps its URL without the query string, which may carry a credential."""
    if span.is_recording() and scope.get("query_string"):
        url = span.attributes.get("http.url") if hasattr(span, "attributes") else None
        if isinstance(url, str):
            span.set_attribute("http.url", redact_queries(url))
        span.set_attribute("url.query", "[redacted]")


def cors_config(settings: GatewaySettings) -> CORSConfig | None:
    origins = settings.cors_allow_origins or (["*"] if settings.environment == "development" else [])
    return CORSConfig(allow_origins=origins, allow_credentials="*" not in origins) if origins else None


def create_app(settings: GatewaySettings, broker: NatsBroker | None = None) -> Litestar:
    reconnects = Reconnects()
    broker = broker or NatsBroker(
        settings.nats_servers, connect_timeout=5, max_reconnect_attempts=-1, serializer=None,
        middlewares=(NatsTelemetryMiddleware(),), reconnected_cb=reconnects.callback,
        **settings.nats_broker_options(),
    )
    services = ServiceClient(broker, settings.service_timeout_s)
    identity = Identity(TokenVerifier(settings.jwt_issuer, settings.jwt_audience, keys={}, versions={}), services)
    rate_store = NatsKVStore(kv=None)
    boards = Boards()
    live = LiveHub()
    boards.listeners.append(live.on_board)

    @asynccontextmanager
    async def platform_connections(app: Litestar) -> AsyncIterator[None]:
        await broker.start()
        js = broker.connection.jetstream()
        await ensure_streams(js, settings.stream_replicas, nats_access.streams_owned("gateway"))
        await ensure_kv_buckets(js, settings.stream_replicas, nats_access.buckets("gateway"))
        rate_store.kv = await js.key_value(RATE_LIMITS.name)
        app.state.gateway_settings = await js.key_value(GATEWAY_SETTINGS.name)
        # Direct uploads are streamed to object storage through presigned URLs.
        app.state.http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0))
        await live.start(broker.connection)
        tasks = [
            asyncio.create_task(follow(lambda: broker.connection, TOKEN_VERSIONS.name, identity.apply_version,
                                       reconnects)),
            asyncio.create_task(follow(lambda: broker.connection, REVOKED_TOKEN_FAMILIES.name,
                                       identity.apply_revoked_family, reconnects)),
            asyncio.create_task(identity.keep_jwks()),
            asyncio.create_task(follow(lambda: broker.connection, LEADERBOARDS.name, boards.apply, reconnects)),
            # After a NATS restart, the streams and buckets are there again even if its store was wiped.
            asyncio.create_task(BusKeeper(lambda: broker.connection.jetstream(), replicas=settings.stream_replicas,
                                          buckets=nats_access.buckets("gateway"),
                                          updates=nats_access.streams_owned("gateway")).run(reconnects)),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await live.stop()
            await app.state.http.aclose()
            await broker.stop()

    rate_limit = RateLimitConfig(
        rate_limit=("minute", settings.rate_limit_per_minute),
        identifier_for_request=rate_limit_identity,
        exclude=UNMETERED_PATHS,
        store="rate_limit",
    )
    # group_path: one series per route template, not per submission id.
    prometheus = PrometheusConfig(app_name="gateway", prefix="http", group_path=True, exclude=UNMETERED_PATHS)
    # One span per request (not one more per ASGI message); the plugin wraps the app outermost.
    telemetry = OpenTelemetryConfig(exclude=UNMETERED_PATHS, exclude_spans=["receive", "send"],
                                    server_request_hook_handler=redact_span_url)
    app = Litestar(
        route_handlers=[
            HealthController, IdentityController, TeamController, AdminTeamController, QAController,
            SubmissionController, AdminSubmissionController, LeaderboardController, BoardAdminController,
            MlsGoatController, live_socket, board_socket, live_messages_schema,
            metrics_controller(parse_networks(settings.metrics_allow)),
            web_page, docs_asset,
        ],
        lifespan=[platform_connections],
        middleware=[prometheus.middleware, TokenMiddleware(identity), rate_limit.middleware],
        stores=StoreRegistry({"rate_limit": rate_store}),
        plugins=[problem_details_plugin(), OpenTelemetryPlugin(telemetry)],
        exception_handlers=EXCEPTION_HANDLERS,
        cors_config=cors_config(settings),
        request_max_body_size=settings.max_request_body_bytes,
        request_class=GatewayRequest,
        openapi_config=OpenAPIConfig(
            title="Podium API", version="1", path="/docs", render_plugins=[swagger_page()]
        ),
    )
    app.state.broker = broker
    app.state.settings = settings
    app.state.services = services
    app.state.identity = identity
    app.state.boards = boards
    app.state.live = live
    app.state.backend_services = BACKEND_SERVICES
    return app
