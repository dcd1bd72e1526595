"""Composition root of the gateway: settings → NATS connection → routes → lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream.nats import NatsBroker
from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from pydantic import AliasChoices, Field

from gateway.health import HealthController
from podium_runtime.settings import ServiceSettings

# The back-end services whose health the gateway reports at /api/v1/health.
BACKEND_SERVICES = ("auth_service", "submission_service", "cpu_scorer", "gpu_scorer", "leaderboard_service")


class GatewaySettings(ServiceSettings):
    service_name: str = "gateway"
    http_port: int = Field(default=8000, validation_alias=AliasChoices("PODIUM_GATEWAY_HTTP_PORT"))
    # How long the gateway waits for a service's answer over NATS before reporting it unreachable.
    service_timeout_s: float = 2.0


def create_app(settings: GatewaySettings, broker: NatsBroker | None = None) -> Litestar:
    broker = broker or NatsBroker(settings.nats_url, connect_timeout=5, max_reconnect_attempts=-1)

    @asynccontextmanager
    async def nats_connection(app: Litestar) -> AsyncIterator[None]:
        await broker.start()
        try:
            yield
        finally:
            await broker.stop()

    app = Litestar(
        route_handlers=[HealthController],
        lifespan=[nats_connection],
        openapi_config=OpenAPIConfig(
            title="Podium API", version="1", path="/docs", render_plugins=[SwaggerRenderPlugin()]
        ),
    )
    app.state.broker = broker
    app.state.settings = settings
    app.state.backend_services = BACKEND_SERVICES
    return app
