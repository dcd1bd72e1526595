"""Who may read the gateway's `/metrics`: the gateway's port is public, its metrics (routes, request rates, open
sockets) are for the operator's Prometheus. Checked against the connection's peer address (`scope["client"]`), which
uvicorn replaces with the X-Forwarded-For client only behind a proxy named in PODIUM_TRUSTED_PROXIES; anyone else
gets the 404 of a route that does not exist."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers import BaseRouteHandler
from litestar.plugins.prometheus import PrometheusController

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK = "127.0.0.0/8,::1"


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated addresses or networks ("10.0.0.0/8, ::1"); raises ValueError naming a bad one."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"{part!r} is not an IP address or network") from None
    return tuple(networks)


def is_allowed(host: str | None, networks: Iterable[Network]) -> bool:
    """Whether a peer at `host` is inside one of `networks`; a peer with no IP address (a Unix socket, a test
    client's made-up name) is not."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # an IPv4 client of a dual-stack socket ("::ffff:127.0.0.1")
    return any(address in network for network in networks)


def metrics_controller(networks: tuple[Network, ...]) -> type[PrometheusController]:
    """Litestar's Prometheus controller, answering only clients inside `networks`."""

    def from_allowed_client(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        if not is_allowed(connection.client.host if connection.client else None, networks):
            raise NotFoundException()

    class MetricsController(PrometheusController):
        guards = [from_allowed_client]

    return MetricsController
