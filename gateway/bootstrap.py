"""The gateway's dependencies, built in one place (`podium_runtime.service` describes the shape): its settings, its
bus, `Deps` and `bootstrap`, which the app's lifespan opens (or a test opens itself and hands to `create_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from faststream.nats import NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from nats.js.kv import KeyValue
from pydantic import AliasChoices, Field, field_validator

from gateway.metrics_access import LOOPBACK, parse_networks
from podium_runtime.competition import CurrentCompetition, follow_competition
from podium_runtime.kv_watch import Reconnects
from podium_runtime.service import Bus, connect_bus
from podium_runtime.settings import ServiceSettings
from proto.streams import GATEWAY_SETTINGS, RATE_LIMITS

NAME = "gateway"


class GatewaySettings(ServiceSettings):
    service_name: str = NAME
    http_port: int = Field(default=8000, validation_alias=AliasChoices("PODIUM_GATEWAY_HTTP_PORT"))
    # Processes serving the port (`podium_runtime.workers`): each with its own NATS connection and in-memory state,
    # all fed from NATS. 1: the gateway is this one process (tests, a pod that scales by replicas); `make run` sets
    # the number of cores.
    workers: int = Field(default=1, ge=1, validation_alias=AliasChoices("PODIUM_GATEWAY_WORKERS"))
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


def create_bus(settings: GatewaySettings) -> Bus:
    """The gateway's bus, not connected yet. Its requests are traced (the trace goes on to the services); it is not
    counted per message like a service's: the gateway counts its HTTP requests."""
    reconnects = Reconnects()
    broker = NatsBroker(
        settings.nats_servers, connect_timeout=5, max_reconnect_attempts=-1, serializer=None,
        middlewares=(NatsTelemetryMiddleware(),), reconnected_cb=reconnects.callback,
        **settings.nats_broker_options(),
    )
    return Bus(NAME, broker, reconnects)


@dataclass(frozen=True)
class Deps:
    bus: Bus
    rate_limits: KeyValue  # the `rate_limits` bucket: every replica's counts, per team or address
    gateway_settings: KeyValue  # the `gateway_settings` bucket (MLS-GOAT's GPU server URL)
    http: httpx.AsyncClient  # direct uploads are streamed to object storage through presigned URLs
    # The competition version in use (the `competition` bucket, followed while the gateway runs): its changes and
    # its phases' openings and closings are pushed to every socket (`gateway.competition_pushes`).
    competition: CurrentCompetition


@asynccontextmanager
async def bootstrap(settings: GatewaySettings, bus: Bus) -> AsyncIterator[Deps]:
    """Connect the bus (declaring the streams and buckets the gateway's NATS user may), open the buckets, follow the
    competition and open the HTTP client; all closed on the way out, the bus last."""
    try:
        await connect_bus(bus, settings)
        await bus.broker.start()
        js = bus.jetstream()
        rate_limits = await js.key_value(RATE_LIMITS.name)
        gateway_settings = await js.key_value(GATEWAY_SETTINGS.name)
        async with (
            follow_competition(bus) as competition,
            httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0)) as http,
        ):
            yield Deps(bus=bus, rate_limits=rate_limits, gateway_settings=gateway_settings, http=http,
                       competition=competition)
    finally:
        await bus.broker.stop()
