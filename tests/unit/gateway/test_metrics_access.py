"""/metrics only for the peers PODIUM_METRICS_ALLOW names (loopback by default), as the app answers them in process:
httpx's ASGI transport sets the connection's peer address (`scope["client"]`)."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar
from pydantic import ValidationError

from gateway.app import GatewaySettings
from gateway.metrics_access import is_allowed, metrics_controller, parse_networks


async def metrics_status(allow: str, peer: str, headers: dict[str, str] | None = None) -> int:
    app = Litestar([metrics_controller(parse_networks(allow))])
    # Litestar's __call__ is typed with its own ASGI types, which httpx's protocol does not name.
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))  # pyright: ignore[reportArgumentType]
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        return (await client.get("/metrics", headers=headers)).status_code


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
async def test_loopback_peers_read_metrics_by_default(peer: str) -> None:
    assert await metrics_status(GatewaySettings().metrics_allow, peer) == 200


@pytest.mark.parametrize("peer", ["10.1.2.3", "203.0.113.7", "2001:db8::1", "testclient", ""])
async def test_other_peers_get_a_404_by_default(peer: str) -> None:
    assert await metrics_status(GatewaySettings().metrics_allow, peer) == 404


async def test_a_configured_network_replaces_loopback() -> None:
    assert await metrics_status("10.0.0.0/8", "10.1.2.3") == 200
    assert await metrics_status("10.0.0.0/8", "127.0.0.1") == 404


async def test_a_forwarded_address_is_not_the_peer() -> None:
    # X-Forwarded-For only counts after uvicorn believed it (a PODIUM_TRUSTED_PROXIES peer) and rewrote the peer.
    assert await metrics_status("127.0.0.0/8", "203.0.113.7", {"X-Forwarded-For": "127.0.0.1"}) == 404


def test_networks_are_parsed_and_a_bad_one_is_named() -> None:
    assert [str(n) for n in parse_networks(" 10.0.0.0/8, 192.0.2.1 ,,::1")] == ["10.0.0.0/8", "192.0.2.1/32", "::1/128"]
    assert parse_networks("") == ()
    assert not is_allowed("127.0.0.1", parse_networks(""))
    with pytest.raises(ValidationError, match="'10.0.0.0/33' is not an IP address or network"):
        GatewaySettings(metrics_allow="10.0.0.0/33")
