"""A live socket's token is checked again on every revocation the gateway hears of and at its expiry: the socket
closes (4401) with the reason, and not before."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from gateway.identity import Identity
from gateway.live import keep_valid
from tests.unit.gateway.test_token_verification import ACCOUNT, POLICY, issue, verifier


class FakeSocket:
    def __init__(self) -> None:
        self.closed: tuple[int, str] | None = None

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


async def test_a_revoked_token_closes_its_socket() -> None:
    identity = Identity(verifier(), services=None)  # type: ignore[arg-type]
    socket = FakeSocket()
    watching = asyncio.create_task(keep_valid(socket, identity, issue()))  # type: ignore[arg-type]
    await asyncio.sleep(0)  # the watchdog waits for a revocation
    identity.note_version("someone-else", 9)  # another account's change: this token stays good
    await asyncio.sleep(0)
    assert socket.closed is None and not watching.done()
    identity.note_version(ACCOUNT, 4)  # a password change bumps the version
    await asyncio.wait_for(watching, 10)
    assert socket.closed is not None and socket.closed[0] == 4401 and "revoked" in socket.closed[1]


async def test_an_expired_token_closes_its_socket() -> None:
    identity = Identity(verifier(), services=None)  # type: ignore[arg-type]
    socket = FakeSocket()
    # Issued long enough ago that it expires now: the watchdog closes at its exp, without any revocation.
    token = issue(now=datetime.now(UTC) - POLICY.access_ttl + timedelta(milliseconds=50))
    await asyncio.wait_for(keep_valid(socket, identity, token), 10)  # type: ignore[arg-type]
    assert socket.closed == (4401, "token expired")
