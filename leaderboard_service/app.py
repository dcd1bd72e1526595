"""Composition root of leaderboard_service: settings → competition → connections → the three durable
consumers (scores, teams, board decisions), the request/reply operations → lifespan."""

from __future__ import annotations

from pathlib import Path

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsMessage, NatsRouter
from pydantic import AliasChoices, Field

from leaderboard_service import projection
from leaderboard_service.handlers import LeaderboardHandlers
from podium_runtime.consumers import durable_subscriber
from podium_runtime.rpc import rpc_router
from podium_runtime.service import Runtime, ServiceSpec, create_service_app
from podium_runtime.settings import ServiceSettings
from proto.competition import parse_competition
from proto.events import (
    AnyEvent,
    FinalsSelected,
    LeaderboardUpdated,
    PrivateBoardRevealed,
    TeamStandingChanged,
)
from proto.streams import (
    LEADERBOARD_BOARD,
    LEADERBOARD_QA,
    LEADERBOARD_RESCORES,
    LEADERBOARD_SCORES,
    LEADERBOARD_TEAMS,
    LEADERBOARDS,
)


class LeaderboardServiceSettings(ServiceSettings):
    service_name: str = "leaderboard_service"
    http_port: int = Field(default=8105, validation_alias=AliasChoices("PODIUM_LEADERBOARD_SERVICE_HTTP_PORT"))
    competition_file: Path = Path("deploy/competition.toml")


def create_handlers(settings: LeaderboardServiceSettings) -> LeaderboardHandlers:
    return LeaderboardHandlers(competition=parse_competition(settings.competition_file.read_bytes()))


def create_app(settings: LeaderboardServiceSettings) -> AsgiFastStream:
    handlers = create_handlers(settings)
    events = NatsRouter()

    def applier(name: str):  # noqa: ANN202 — one handler per consumer, each with its own name
        async def apply(event: AnyEvent, message: NatsMessage) -> None:
            metadata = message.raw_message.metadata
            await handlers.on_event(metadata.stream, metadata.sequence.stream, event)

        apply.__name__ = f"apply_{name}"
        return apply

    consumers = (LEADERBOARD_SCORES, LEADERBOARD_TEAMS, LEADERBOARD_BOARD, LEADERBOARD_RESCORES, LEADERBOARD_QA)
    for consumer in consumers:
        durable_subscriber(events, consumer)(applier(consumer.durable))

    async def startup(runtime: Runtime) -> None:
        assert runtime.pool is not None
        handlers.pool, handlers.broker = runtime.pool, runtime.broker
        handlers.boards = await runtime.broker.connection.jetstream().key_value(LEADERBOARDS.name)
        await handlers.publish_all()  # a board for every task, even before its first score

    spec = ServiceSpec(
        name="leaderboard_service",
        schema=projection.SCHEMA,
        package="leaderboard_service",
        routers=(rpc_router("leaderboard_service", handlers.operations()), events),
        startup=startup,
        restore=lambda runtime, wiped: handlers.restore(wiped),
        consumers=consumers,
        publishes=(LeaderboardUpdated, TeamStandingChanged, PrivateBoardRevealed, FinalsSelected),
    )
    return create_service_app(spec, settings)
