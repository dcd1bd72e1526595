"""Session fixtures: the real embedded NATS, PostgreSQL and S3, started once on free ports in a
temporary folder and stopped (by PID) when the session ends."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NatsClient

from deploy.stack import EmbeddedStack, StackPorts
from podium_runtime.connections import ensure_streams
from podium_runtime.settings import ServiceSettings


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
