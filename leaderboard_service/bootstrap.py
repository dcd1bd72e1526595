"""leaderboard_service's dependencies, built in one place (`podium_runtime.service` describes the shape): its
settings, `Deps` and `bootstrap`, which the app's lifespan opens, the admin commands (`python -m
leaderboard_service rebuild`) open as well, and a test may open (or fake) itself. The competition comes from the
`competition` KV bucket, followed for as long as the service (or the command) runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from nats.js.kv import KeyValue
from pydantic import AliasChoices, Field

from leaderboard_service import projection
from podium_runtime.competition import CurrentCompetition, follow_competition
from podium_runtime.service import Bus, connect_bus, open_database
from podium_runtime.settings import ServiceSettings
from proto.streams import LEADERBOARDS

NAME = "leaderboard_service"


class LeaderboardServiceSettings(ServiceSettings):
    service_name: str = NAME
    http_port: int = Field(default=8105, validation_alias=AliasChoices("PODIUM_LEADERBOARD_SERVICE_HTTP_PORT"))


@dataclass(frozen=True)
class Deps:
    competition: CurrentCompetition
    bus: Bus
    pool: asyncpg.Pool
    boards: KeyValue  # the `leaderboards` bucket: every task's current boards


@asynccontextmanager
async def bootstrap(settings: LeaderboardServiceSettings, bus: Bus, *, pool_size: int | None = None
                    ) -> AsyncIterator[Deps]:
    """`pool_size`: the database pool's size where not the settings' (a command needs few connections)."""
    await connect_bus(bus, settings)
    async with (open_database(settings, projection.SCHEMA, NAME, max_size=pool_size) as pool,
                follow_competition(bus) as competition):
        boards = await bus.jetstream().key_value(LEADERBOARDS.name)
        yield Deps(competition=competition, bus=bus, pool=pool, boards=boards)
