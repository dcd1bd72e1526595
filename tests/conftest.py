"""Session fixtures: the real embedded NATS, PostgreSQL and S3, started once on free ports in a
temporary folder and stopped (by PID) when the session ends."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import asyncpg
import nats
import pytest
from litestar.testing import AsyncTestClient
from nats.aio.client import Client as NatsClient

from deploy.stack import EmbeddedStack, StackPorts, free_port, http_ok, spawn, stop_all, wait_until
from gateway.app import GatewaySettings
from gateway.app import create_app as create_gateway
from podium_runtime.connections import ensure_streams
from podium_runtime.settings import PlatformSettings, ServiceSettings


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    # durable=False: no fsync in PostgreSQL; the tests kill clients, not the machine.
    with EmbeddedStack(tmp_path_factory.mktemp("stack"), StackPorts.free(), durable=False) as running:
        yield running


@pytest.fixture(scope="session")
def settings(stack: EmbeddedStack) -> ServiceSettings:
    env = stack.env()
    return ServiceSettings(
        nats_url=env["PODIUM_NATS_URL"],
        postgres_dsn=env["PODIUM_POSTGRES_DSN"],
        s3_endpoint=env["PODIUM_S3_ENDPOINT"],
        s3_access_key=env["PODIUM_S3_ACCESS_KEY"],
        s3_secret_key=env["PODIUM_S3_SECRET_KEY"],
        outbox_poll_s=0.2,
    )


@pytest.fixture(scope="session")
async def pg_pool(settings: ServiceSettings) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(settings.postgres_dsn.get_secret_value(), min_size=1, max_size=10)
    yield pool
    await pool.close()


@pytest.fixture
async def nc(settings: ServiceSettings) -> AsyncIterator[NatsClient]:
    client = await nats.connect(settings.nats_url)
    await ensure_streams(client.jetstream())
    yield client
    await client.drain()


@pytest.fixture
def unique() -> str:
    """A fresh token for names (schemas, tasks, durables) so tests sharing the servers never collide."""
    return uuid.uuid4().hex[:12]


# --- the identity service and the gateway -----------------------------------------------------------

ADMIN = ("root-admin", "root-admin-password")


def service_env(stack: EmbeddedStack, **extra: str) -> dict[str, str]:
    return {**os.environ, **stack.env(), "PYTHONUNBUFFERED": "1", **extra}


@pytest.fixture(scope="session")
def auth_service(stack: EmbeddedStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real auth_service as its own process; yields its base URL (health routes)."""
    port = free_port()
    log = tmp_path_factory.mktemp("auth") / "auth_service.log"
    env = service_env(stack, PODIUM_AUTH_SERVICE_HTTP_PORT=str(port), PODIUM_ACCESS_TOKEN_TTL_S="300")
    server = spawn("auth_service", [sys.executable, "-m", "auth_service"], log, signal.SIGTERM, env=env)
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/readiness"), "auth_service", 60, server.proc, log)
        created = subprocess.run(
            [sys.executable, "-m", "auth_service", "create-admin", "--name", ADMIN[0], "--password", ADMIN[1]],
            env=env, capture_output=True, text=True, timeout=60,
        )
        assert created.returncode == 0, created.stderr
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_all([server], timeout_s=15)


def gateway_settings(settings: ServiceSettings, **overrides: object) -> GatewaySettings:
    fields = {k: v for k, v in settings.model_dump().items() if k in PlatformSettings.model_fields}
    return GatewaySettings(**{**fields, "http_port": 0, **overrides})


@asynccontextmanager
async def running_gateway(settings: GatewaySettings) -> AsyncIterator[AsyncTestClient]:
    app = create_gateway(settings)
    async with AsyncTestClient(app=app, timeout=30) as client:
        async with asyncio.timeout(30):
            while not app.state.identity.ready:  # noqa: ASYNC110 — two conditions (keys, versions) to wait for
                await asyncio.sleep(0.05)
        yield client


@pytest.fixture(scope="session")
async def gateway(settings: ServiceSettings, auth_service: str) -> AsyncIterator[AsyncTestClient]:
    """The gateway app in-process (its real middleware, NATS and auth_service), as an HTTP client."""
    async with running_gateway(gateway_settings(settings)) as client:
        yield client
