"""A Litestar `Store` backed by a NATS JetStream KV bucket, so every gateway replica shares one view of
rate-limit counters (a per-process store would let each replica grant the full allowance). While NATS is away
(a restart, a failover) the request is answered 503 with `Retry-After`, like any request that needs it."""

from __future__ import annotations

import base64
import contextlib
import struct
import time
from collections.abc import Iterator
from datetime import timedelta

import nats.errors
from litestar.stores.base import Store
from nats.js.errors import (
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
    NoStreamResponseError,
    ServiceUnavailableError,
)
from nats.js.kv import KeyValue

from gateway.problems import Problem

# Each value is prefixed with its absolute expiry (float seconds, 0 = never): KV entries have no
# per-key TTL through put(), so expiry is checked on read; the bucket's max age sweeps old keys.
_HEADER = struct.Struct("!d")


def _token(text: str) -> str:
    # Litestar's keys contain ':' and other characters KV keys may not; base32 keeps them valid and distinct.
    # "_" stands for the empty text: base32 never produces it, and a KV key may not end with a dot.
    return base64.b32encode(text.encode()).decode().rstrip("=") or "_"


@contextlib.contextmanager
def bus_available() -> Iterator[None]:
    try:
        yield
    except (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.errors.ConnectionClosedError,
            nats.errors.StaleConnectionError, nats.errors.OutboundBufferLimitError,
            # The bucket not there (yet) after JetStream's store was wiped: the gateway declares it again.
            NoStreamResponseError, BucketNotFoundError, ServiceUnavailableError) as exc:
        raise Problem(503, "the platform is reconnecting to its message bus; try again shortly",
                      headers={"Retry-After": "2"}) from exc


def _seconds(expires_in: int | timedelta | None) -> float | None:
    if expires_in is None:
        return None
    return expires_in.total_seconds() if isinstance(expires_in, timedelta) else float(expires_in)


class NatsKVStore(Store):
    def __init__(self, kv: KeyValue, namespace: str = "litestar") -> None:
        self.namespace = namespace
        self._kv = kv

    def _prefix(self) -> str:
        return _token(self.namespace or "-")

    def _key(self, key: str) -> str:
        return f"{self._prefix()}.{_token(key)}"

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        seconds = _seconds(expires_in)
        expiry = time.time() + seconds if seconds else 0.0
        data = value.encode() if isinstance(value, str) else value
        with bus_available():
            await self._kv.put(self._key(key), _HEADER.pack(expiry) + data)

    async def _entry(self, key: str) -> tuple[float, bytes] | None:
        return (await self._revised(key))[0]

    async def _revised(self, key: str) -> tuple[tuple[float, bytes] | None, int]:
        """((expiry, value) or None when absent or expired, the key's revision: 0 when it has none)."""
        try:
            with bus_available():
                entry = await self._kv.get(self._key(key))
        except KeyNotFoundError:
            return None, 0
        revision = entry.revision or 0
        if not entry.value or len(entry.value) < _HEADER.size:
            return None, revision
        (expiry,) = _HEADER.unpack_from(entry.value)
        if expiry and expiry <= time.time():
            return None, revision
        return (expiry, entry.value[_HEADER.size :]), revision

    async def get_revised(self, key: str) -> tuple[bytes | None, int]:
        """The value (None: absent or expired) and the revision to hand to `set_if` for a read-modify-write."""
        found, revision = await self._revised(key)
        return (None if found is None else found[1]), revision

    async def set_if(self, key: str, value: bytes, revision: int, expires_in: int | timedelta | None = None) -> bool:
        """`set`, only if the key is still at `revision` (0: has none); False when another writer — another gateway
        process or replica — wrote it since: read it again and retry."""
        seconds = _seconds(expires_in)
        data = _HEADER.pack(time.time() + seconds if seconds else 0.0) + value
        try:
            with bus_available():
                if revision:
                    await self._kv.update(self._key(key), data, last=revision)
                else:
                    await self._kv.create(self._key(key), data)
        except KeyWrongLastSequenceError:
            return False
        return True

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        found = await self._entry(key)
        if found is None:
            return None
        if renew_for is not None and found[0]:
            await self.set(key, found[1], renew_for)
        return found[1]

    async def delete(self, key: str) -> None:
        await self._kv.delete(self._key(key))

    async def delete_all(self) -> None:
        try:
            keys = await self._kv.keys(filters=[f"{self._prefix()}.>"])
        except NoKeysError:
            return
        for key in keys:
            await self._kv.delete(key)

    async def exists(self, key: str) -> bool:
        return await self._entry(key) is not None

    async def expires_in(self, key: str) -> int | None:
        found = await self._entry(key)
        if found is None or not found[0]:
            return None
        return max(0, int(found[0] - time.time()))
