"""X-Forwarded-For is believed only from the proxies a deployment names (PODIUM_TRUSTED_PROXIES, none by default):
a client that claims a new address on each request still spends one rate-limit bucket, its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploy.stack import EmbeddedStack
from tests.conftest import service_process

LIMIT = 4


def statuses(url: str, requests: int) -> list[int]:
    with httpx.Client(base_url=url, timeout=30) as client:
        return [client.get("/api/v1/leaderboards/recon", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
                for n in range(requests)]


@pytest.fixture
def gateway_with(stack: EmbeddedStack, auth_service: dict[str, str], scoring_services: None, tmp_path: Path):  # noqa: ANN201
    def start(**env: str) -> Iterator[str]:
        with service_process("gateway", stack, tmp_path, PODIUM_RATE_LIMIT_PER_MINUTE=str(LIMIT), **env) as full:
            yield f"http://127.0.0.1:{full['PODIUM_GATEWAY_HTTP_PORT']}"
    return start


def test_a_spoofed_forwarded_address_gets_no_fresh_bucket(gateway_with) -> None:  # noqa: ANN001
    for url in gateway_with():
        answered = statuses(url, LIMIT + 2)
    assert answered[:LIMIT] == [200] * LIMIT and set(answered[LIMIT:]) == {429}


def test_a_named_proxy_is_believed(gateway_with) -> None:  # noqa: ANN001
    for url in gateway_with(PODIUM_TRUSTED_PROXIES="127.0.0.1"):
        answered = statuses(url, LIMIT + 2)
    assert answered == [200] * (LIMIT + 2)  # each forwarded client has its own bucket behind a trusted proxy
