"""MLS-GOAT's clients call `<host>/api/...`: every unprefixed API route of the gateway has its `/api` twin, the twins
come from one helper, and none of them lands under Podium's own `/api/v1`."""

from __future__ import annotations

import pytest

from gateway.app import GatewaySettings, create_app
from gateway.goat_paths import API_V1, GOAT_PREFIX, goat_paths

# Root paths that are not MLS-GOAT's API: probes, metrics, the web page, the sockets, the docs, the JWKS.
NOT_GOAT = {"/", "/health", "/readiness", "/liveness", "/metrics", "/ws", "/ws/boards"}
NOT_GOAT_PREFIXES = ("/app/", "/docs", "/.well-known/")


@pytest.fixture(scope="module")
def routes() -> dict[str, set[str]]:
    app = create_app(GatewaySettings())  # nothing connects before the lifespan starts
    return {route.path: set(route.methods) for route in app.routes}


def test_every_unprefixed_api_route_is_served_under_api_with_the_same_methods(routes: dict[str, set[str]]) -> None:
    unprefixed = [path for path in routes if not path.startswith((GOAT_PREFIX + "/", *NOT_GOAT_PREFIXES))
                  and path not in NOT_GOAT]
    assert "/submit/{task_id:str}" in unprefixed and "/gpu-server-ip" in unprefixed
    for path in unprefixed:
        assert routes.get(GOAT_PREFIX + path) == routes[path], path


def test_no_twin_shadows_podiums_own_api(routes: dict[str, set[str]]) -> None:
    twins = {GOAT_PREFIX + path for path in routes if not path.startswith(GOAT_PREFIX + "/")}
    assert not [twin for twin in twins if twin.startswith(API_V1)]
    assert "/api/v1/tasks/{task_id:str}/submissions" in routes and "/api/v1/leaderboards/{task:str}" in routes


@pytest.mark.parametrize("path", ["/api/login", "/v1/submissions", "/v1", "submit/{task}"])
def test_the_helper_refuses_paths_that_are_not_unprefixed_routes(path: str) -> None:
    with pytest.raises(ValueError, match="not an unprefixed"):
        goat_paths(path)
