"""X-Forwarded-For is believed only from the proxies a deployment names (PODIUM_TRUSTED_PROXIES, none by default):
a client that claims a new address on each request still spends one rate-limit bucket, its own.

The buckets live in a KV bucket every gateway of the session shares, keyed by address: each test uses addresses no
other test uses (a loopback address of its own, forwarded addresses of its own), so what ran before, and when, does
not count against it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploy.stack import EmbeddedStack
from tests.conftest import service_process

LIMIT = 4


def fresh(prefix: str) -> str:
    """`prefix` followed by random octets up to an IPv4 address nobody else uses (prefix "127." or "10.")."""
    return prefix + ".".join(str(1 + secrets.randbelow(254)) for _ in range(4 - prefix.count(".")))


def statuses(url: str, forwarded: list[str], source: str = "127.0.0.1") -> list[int]:
    """One anonymous request from `source` per address it claims in X-Forwarded-For."""
    with httpx.Client(base_url=url, timeout=30, transport=httpx.HTTPTransport(local_address=source)) as client:
        return [client.get("/api/v1/leaderboards/recon", headers={"X-Forwarded-For": address}).status_code
                for address in forwarded]


@pytest.fixture
def gateway_with(stack: EmbeddedStack, auth_service: dict[str, str], scoring_services: None, tmp_path: Path):  # noqa: ANN201
    def start(**env: str) -> Iterator[str]:
        with service_process("gateway", stack, tmp_path, PODIUM_RATE_LIMIT_PER_MINUTE=str(LIMIT), **env) as full:
            yield f"http://127.0.0.1:{full['PODIUM_GATEWAY_HTTP_PORT']}"
    return start


def test_a_spoofed_forwarded_address_gets_no_fresh_bucket(gateway_with) -> None:  # noqa: ANN001
    claimed = [fresh("10.") for _ in range(LIMIT + 2)]
    for url in gateway_with():
        answered = statuses(url, claimed, source=fresh("127."))  # a client of its own: its bucket starts empty
    assert answered[:LIMIT] == [200] * LIMIT and set(answered[LIMIT:]) == {429}


def test_a_named_proxy_is_believed(gateway_with) -> None:  # noqa: ANN001
    for url in gateway_with(PODIUM_TRUSTED_PROXIES="127.0.0.1"):
        answered = statuses(url, [fresh("10.") for _ in range(LIMIT + 2)])
    assert answered == [200] * (LIMIT + 2)  # each forwarded client has its own bucket behind a trusted proxy
