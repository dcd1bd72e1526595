"""What the gateway's routes find in Litestar's application state, typed: a route that takes `state: GatewayState`
gets the same state as with `State`, and a checker knows what each name holds (`state.services.call(...)` answers
its operation's reply type). `gateway.app` puts these in from the gateway's Deps (`gateway.bootstrap`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.datastructures import State

if TYPE_CHECKING:  # the routes import this module: its names are for the checker only
    import httpx
    from faststream.nats import NatsBroker
    from nats.js.kv import KeyValue

    from gateway.boards import Boards
    from gateway.bootstrap import GatewaySettings
    from gateway.identity import Identity
    from gateway.live import LiveHub
    from gateway.services import ServiceClient
    from podium_runtime.competition import CurrentCompetition


class GatewayState(State):
    settings: GatewaySettings
    broker: NatsBroker
    services: ServiceClient
    identity: Identity
    boards: Boards
    live: LiveHub
    http: httpx.AsyncClient  # direct uploads go to object storage through it
    gateway_settings: KeyValue  # the `gateway_settings` bucket (MLS-GOAT's GPU server URL)
    competition: CurrentCompetition  # the competition version in use (the `competition` bucket, followed)
    backend_services: tuple[str, ...]  # whose health /api/v1/health reports
