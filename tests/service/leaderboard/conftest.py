"""The leaderboard's own fixtures: its schema migrated in the session's PostgreSQL, and a NATS server of a test's
own (streams a rebuild reads from the first message, untouched by the running services)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from deploy.stack import HOST
from leaderboard_service import projection
from podium_runtime.migrations import apply_migrations, service_migrations
from tests.service.podium_runtime.conftest import NatsServer


@pytest.fixture(scope="module")
async def migrated(pg_pool: asyncpg.Pool) -> asyncpg.Pool:
    async with pg_pool.acquire() as conn:
        await apply_migrations(conn, projection.SCHEMA, service_migrations("leaderboard_service"))
    return pg_pool


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[str]:
    """Streams of the test's own: a rebuild reads every message of them."""
    server = NatsServer(tmp_path)
    server.start()
    yield f"nats://{HOST}:{server.port}"
    server.stop()
