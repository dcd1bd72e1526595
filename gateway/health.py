"""Health routes: the gateway's own liveness/readiness, and the whole platform's health gathered from
every service over NATS request/reply."""

from __future__ import annotations

import asyncio

import msgspec
from faststream.nats import NatsBroker
from litestar import Controller, Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from gateway.state import GatewayState
from proto.subjects import health as health_subject


class ServiceHealth(msgspec.Struct):
    service: str
    ready: bool
    checks: dict[str, str] = {}


class PlatformHealth(msgspec.Struct):
    ready: bool
    services: list[ServiceHealth]


async def _ask(broker: NatsBroker, service: str, timeout_s: float) -> ServiceHealth:
    try:
        reply = await broker.request(b"", health_subject(service), timeout=timeout_s)
        return msgspec.json.decode(reply.body, type=ServiceHealth)
    except (TimeoutError, msgspec.DecodeError) as exc:
        return ServiceHealth(service=service, ready=False, checks={"reply": f"no valid answer: {exc!r}"})
    except Exception as exc:  # nats-py's NoRespondersError and friends share no useful base class
        return ServiceHealth(service=service, ready=False, checks={"reply": f"unreachable: {type(exc).__name__}"})


class HealthController(Controller):
    @get(["/liveness"], include_in_schema=False)
    async def liveness(self) -> dict[str, str]:
        return {"service": "gateway", "status": "alive"}

    @get(["/health", "/readiness"], summary="Gateway readiness (NATS reachable, token verification loaded)")
    async def readiness(self, state: GatewayState) -> Response[ServiceHealth]:
        nats_ok = await state.broker.ping(timeout=2.0)
        checks = {
            "nats": "ok" if nats_ok else "unreachable",
            # Tokens can be verified only once auth_service's keys, the token versions and revoked logins are loaded.
            "identity": "ok" if state.identity.ready
            else "waiting for auth_service's keys, token versions and revoked logins",
        }
        ready = all(value == "ok" for value in checks.values())
        health = ServiceHealth(service="gateway", ready=ready, checks=checks)
        return Response(health, status_code=HTTP_200_OK if ready else HTTP_503_SERVICE_UNAVAILABLE)

    @get("/api/v1/health", summary="Every service's readiness, asked over NATS")
    async def platform(self, state: GatewayState) -> Response[PlatformHealth]:
        services = await asyncio.gather(
            *(_ask(state.broker, name, state.settings.service_timeout_s) for name in state.backend_services)
        )
        ready = all(s.ready for s in services)
        return Response(
            PlatformHealth(ready=ready, services=list(services)),
            status_code=HTTP_200_OK if ready else HTTP_503_SERVICE_UNAVAILABLE,
        )
