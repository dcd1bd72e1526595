"""The rate limit counted across gateway processes (`gateway.rate_limit`) against the real `rate_limits` bucket:
requests counted at the same moment by different processes are each counted once, so together they never grant more
than the allowance."""

from __future__ import annotations

import asyncio
import json

from litestar.exceptions import TooManyRequestsException
from litestar.middleware.rate_limit import RateLimitConfig
from nats.aio.client import Client as NatsClient

from gateway.kv_store import NatsKVStore
from gateway.rate_limit import SharedRateLimitMiddleware
from podium_runtime.connections import ensure_kv_buckets
from proto.streams import RATE_LIMITS

ALLOWANCE = 10


async def test_counts_made_at_once_by_two_processes_are_each_kept(nc: NatsClient, unique: str) -> None:
    await ensure_kv_buckets(nc.jetstream(), buckets=[RATE_LIMITS])
    store = NatsKVStore(await nc.jetstream().key_value(RATE_LIMITS.name), namespace=f"test-{unique}")
    config = RateLimitConfig(rate_limit=("minute", ALLOWANCE), middleware_class=SharedRateLimitMiddleware)
    # Two limiters, each with its own locks: what two gateway processes have.
    processes = [SharedRateLimitMiddleware(app=None, config=config) for _ in range(2)]  # type: ignore[arg-type]

    async def request(limiter: SharedRateLimitMiddleware) -> int:
        try:
            await limiter._count("account:team", store)
        except TooManyRequestsException:
            return 429
        return 200

    statuses = await asyncio.gather(*(request(limiter) for limiter in processes * 12))
    assert sorted(statuses) == [200] * ALLOWANCE + [429] * (24 - ALLOWANCE)
    kept, _ = await store.get_revised("account:team")
    assert kept is not None and len(json.loads(kept)["history"]) == ALLOWANCE
