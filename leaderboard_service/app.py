"""Composition root of leaderboard_service: settings → connections → subscribers → lifespan.

Its domain handlers arrive with their issue; until then it runs the platform's common parts.
"""

from __future__ import annotations

from faststream.asgi import AsgiFastStream
from pydantic import AliasChoices, Field

from podium_runtime.service import ServiceSpec, create_service_app
from podium_runtime.settings import ServiceSettings


class LeaderboardServiceSettings(ServiceSettings):
    service_name: str = "leaderboard_service"
    http_port: int = Field(default=8105, validation_alias=AliasChoices("PODIUM_LEADERBOARD_SERVICE_HTTP_PORT"))


SPEC = ServiceSpec(
    name="leaderboard_service",
    schema="leaderboard",
    package="leaderboard_service",
)


def create_app(settings: LeaderboardServiceSettings) -> AsgiFastStream:
    return create_service_app(SPEC, settings)
