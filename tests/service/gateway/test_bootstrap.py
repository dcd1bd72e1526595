"""The gateway built the way a test (or a tool) builds it: Deps opened with `gateway.bootstrap` against the real NATS
and auth_service, handed to `create_app`; the app uses them as they are, and closing them is the opener's."""

from __future__ import annotations

import asyncio

import httpx

from deploy.stack import EmbeddedStack
from gateway.app import create_app
from gateway.bootstrap import bootstrap, create_bus
from podium_runtime.settings import ServiceSettings
from tests.conftest import gateway_settings


async def test_an_app_given_its_deps_serves_with_them_and_leaves_them_open(
    stack: EmbeddedStack, settings: ServiceSettings, auth_service: dict[str, str]
) -> None:
    gateway = gateway_settings(settings, nats_user="gateway", nats_password=stack.nats_passwords["gateway"])
    bus = create_bus(gateway)
    async with bootstrap(gateway, bus) as deps:
        app = create_app(gateway, deps)
        assert app.state.http is deps.http and app.state.broker is bus.broker  # wired at once, before any lifespan
        # In this event loop (the Deps' connections belong to it), not in a test client's thread of its own.
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # httpx's ASGI types are its own
        async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            async with asyncio.timeout(30):
                while not app.state.identity.ready:  # noqa: ASYNC110 — keys, versions and revoked logins to load
                    await asyncio.sleep(0.05)
            ready = await client.get("/readiness")
            assert ready.status_code == 200, ready.text
            schema = await client.get("/api/v1/live/schema.json")  # rate limited: the limiter's store is the bucket
            assert schema.status_code == 200, schema.text
            assert "board_delta" in schema.json()["discriminator"]["mapping"]
        connection = bus.broker.connection
        assert connection.is_connected and not deps.http.is_closed  # the app's shutdown left them open
    assert connection.is_closed and deps.http.is_closed  # bootstrap closed what it opened
