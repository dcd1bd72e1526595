"""A token version put that JetStream refuses for a moment (a cluster node lost) is tried again: the account is
committed already, and its gateways must learn its version (chaos: `create_team` answered 500 on a lost node)."""

from __future__ import annotations

import pytest
from nats.errors import NoRespondersError
from nats.js.errors import KeyNotFoundError

from auth_service.token_versions import RevokedFamilies, TokenVersions


class FlakyKV:
    """A KV bucket that refuses the first `refusals` puts and deletes as JetStream does with no responder."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.calls = 0
        self.values: dict[str, bytes] = {}

    def _maybe_refuse(self) -> None:
        self.calls += 1
        if self.calls <= self.refusals:
            raise NoRespondersError

    async def put(self, key: str, value: bytes) -> int:
        self._maybe_refuse()
        self.values[key] = value
        return self.calls

    async def delete(self, key: str) -> bool:
        self._maybe_refuse()
        if key not in self.values:
            raise KeyNotFoundError
        del self.values[key]
        return True


async def test_a_refused_version_put_is_tried_again_until_it_lands() -> None:
    kv = FlakyKV(refusals=2)
    await TokenVersions(kv).publish("7", 3)  # type: ignore[arg-type]  # the KV's two methods used
    assert kv.values == {"7": b"3"} and kv.calls == 3


async def test_a_refused_family_put_is_tried_again() -> None:
    kv = FlakyKV(refusals=1)
    await RevokedFamilies(kv).publish("family-1", "7")  # type: ignore[arg-type]
    assert kv.values == {"family-1": b"7"}


async def test_a_bus_that_stays_away_is_reported_after_the_bounded_attempts() -> None:
    kv = FlakyKV(refusals=100)
    with pytest.raises(NoRespondersError):
        await TokenVersions(kv).publish("7", 3)  # type: ignore[arg-type]
    assert kv.calls == 6
