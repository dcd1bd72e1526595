"""Composition root of leaderboard_service: settings → Deps (`leaderboard_service.bootstrap`) → the handlers →
the request/reply operations and the durable consumers (scores, teams, board decisions) → lifespan."""

from __future__ import annotations

from faststream.asgi import AsgiFastStream

from leaderboard_service import projection
from leaderboard_service.bootstrap import NAME, Deps, LeaderboardServiceSettings, bootstrap
from leaderboard_service.handlers import CONSUMERS, BoardPublisher, LeaderboardHandlers, create_routers
from podium_runtime.service import ServiceSpec, Wired, Wiring, create_bus, create_service_app
from proto.events import FinalsSelected, LeaderboardUpdated, PrivateBoardRevealed, TeamStandingChanged

__all__ = ["LeaderboardServiceSettings", "create_app", "create_handlers", "wire"]


def create_handlers(deps: Deps) -> LeaderboardHandlers:
    return LeaderboardHandlers(competition=deps.competition, pool=deps.pool,
                               boards=BoardPublisher(pool=deps.pool, kv=deps.boards, broker=deps.bus.broker))


def wire(deps: Deps) -> Wired:
    handlers = create_handlers(deps)
    deps.competition.listeners.append(handlers.competition_changed)
    # started: a board for every task, even before its first score; then each task a new version redefines.
    return Wired(context={"handlers": handlers}, pool=deps.pool, started=handlers.publish_all,
                 restore=handlers.restore, background=(handlers.republish_redefined,))


def create_app(settings: LeaderboardServiceSettings, deps: Deps | None = None) -> AsgiFastStream:
    spec = ServiceSpec(
        name=NAME,
        schema=projection.SCHEMA,
        routers=create_routers(NAME),
        consumers=CONSUMERS,
        publishes=(LeaderboardUpdated, TeamStandingChanged, PrivateBoardRevealed, FinalsSelected),
    )
    bus = deps.bus if deps is not None else create_bus(NAME, settings)
    return create_service_app(spec, settings, Wiring(
        bus=bus, bootstrap=lambda bus: bootstrap(settings, bus), wire=wire, deps=deps))
