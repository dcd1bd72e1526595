"""Litestar's rate limiter, with its read-count-write made atomic across gateway processes and replicas.

Litestar's middleware reads a caller's history from the store, checks it and writes it back under a lock of its own
process: two processes (or replicas) counting the same caller at once would both read N and both write N + 1, and
together grant more than the allowance. Here the write is a compare-and-set on the `rate_limits` KV key's revision
(`NatsKVStore.set_if`): the loser reads again and counts again, so every request is counted once, wherever it lands.
The lock is per caller (one process's requests for a caller take turns instead of racing each other); different
callers never wait on one another."""

from __future__ import annotations

import asyncio
import weakref
from time import time
from typing import Any

from litestar.exceptions import TooManyRequestsException
from litestar.middleware.rate_limit import DURATION_VALUES, CacheObject, RateLimitMiddleware
from litestar.serialization import decode_json, encode_json
from litestar.types import Receive, Scope, Send

from gateway.kv_store import NatsKVStore
from gateway.problems import Problem

# A request that loses a round of read-and-write lost it to another request of the same caller that was counted; at
# most the allowance is counted in a window, so a request loses at most that many rounds before it is counted or
# refused. The bound (the allowance, plus rounds lost to a window that ended meanwhile) only stops a broken store.
EXTRA_ATTEMPTS = 4


class SharedRateLimitMiddleware(RateLimitMiddleware):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._callers: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope["litestar_app"]
        request = app.request_class(scope)
        store = self.config.get_store_from_app(app)
        if not isinstance(store, NatsKVStore):  # pragma: no cover — the gateway registers one (gateway.app.wire)
            raise TypeError("the shared rate limiter needs the NATS KV store")
        if await self.should_check_request(request=request):
            key = self.cache_key_from_request(request)
            lock = self._callers.get(key)
            if lock is None:
                lock = self._callers[key] = asyncio.Lock()
            async with lock:
                counted = await self._count(key, store)
            if self.config.set_rate_limit_headers:
                send = self.create_send_wrapper(send=send, cache_object=counted)
        await self.app(scope, receive, send)

    async def _count(self, key: str, store: NatsKVStore) -> CacheObject:
        """The caller's history with this request in it, written only if no one wrote it since it was read; raises 429
        when the allowance is spent."""
        duration = DURATION_VALUES[self.unit]
        for _ in range(self.max_requests + EXTRA_ATTEMPTS):
            cached, revision = await store.get_revised(key)
            now = int(time())
            history = CacheObject(**decode_json(value=cached)) if cached else None
            if history is None or history.reset <= now:
                history = CacheObject(history=[], reset=now + duration)
            if len(history.history) >= self.max_requests:
                headers = self.create_response_headers(cache_object=history)
                raise TooManyRequestsException(headers=headers if self.config.set_rate_limit_headers else None)
            history.history = [now, *history.history]
            if await store.set_if(key, encode_json(history), revision, expires_in=duration):
                return history
        raise Problem(503, "your requests could not be counted against the rate limit; try again in a moment",
                      headers={"Retry-After": "1"})
