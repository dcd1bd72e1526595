"""Keeping a service's part of the bus in place: the platform's streams and KV buckets, and the service's
durable consumers — at start and again after every NATS reconnection — and noticing when JetStream's store
was wiped, so the service can put back what it keeps there.

A stream that was re-created (its `created` time differs from the one this service recorded, in its own
schema when it has one, so a restart notices too) means its messages and its consumers are gone. The service's
`restore` hook runs with the names of those streams before the consumers are declared again (so, for example,
the leaderboard forgets the old stream's sequence numbers before it reads a new one's), and the new times are
recorded only once it succeeded. A pull subscriber whose consumer is declared again resumes by itself."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

import asyncpg
from nats.js import JetStreamContext

from podium_runtime.connections import ensure_kv_buckets, ensure_streams
from podium_runtime.consumers import consumer_config
from podium_runtime.kv_watch import Reconnects
from proto.streams import KV_BUCKETS, STREAMS, ConsumerSpec, KVSpec

log = logging.getLogger(__name__)

Restore = Callable[[frozenset[str]], Awaitable[None]]


async def stream_epochs(js: JetStreamContext) -> dict[str, str]:
    """Each platform stream's creation time: a different one is a different stream."""
    return {spec.name: str((await js.stream_info(spec.name)).created) for spec in STREAMS}


class BusKeeper:
    def __init__(self, js: Callable[[], JetStreamContext], *, replicas: int = 1, consumers: Sequence[ConsumerSpec] = (),
                 pool: asyncpg.Pool | None = None, schema: str | None = None, restore: Restore | None = None,
                 buckets: Sequence[KVSpec] = KV_BUCKETS, updates: Collection[str] | None = None) -> None:
        self.js, self.replicas, self.consumers, self.buckets = js, replicas, consumers, buckets
        self.updates = updates
        self.pool, self.schema, self.restore = pool, schema, restore
        self.known: dict[str, str] = {}  # what a service without a schema saw last
        self.wipes = 0

    async def declare(self) -> frozenset[str]:
        """Streams, buckets, the wipe check (and `restore`), then the consumers. Returns the re-created streams."""
        js = self.js()
        await ensure_streams(js, self.replicas, self.updates)
        await ensure_kv_buckets(js, self.replicas, self.buckets)
        wiped = await self.check()
        await self.declare_consumers()
        return wiped

    async def declare_consumers(self) -> None:
        """Create the service's durable consumers, or bring an existing one's settings up to date (JetStream
        updates a durable consumer declared again with another configuration)."""
        for consumer in self.consumers:
            # nats-py leaves add_consumer's **params unannotated.
            await self.js().add_consumer(consumer.stream, consumer_config(consumer))  # pyright: ignore[reportUnknownMemberType]

    async def check(self) -> frozenset[str]:
        """Compare the streams' creation times with the recorded ones; run `restore` with the streams that were
        created again, then record the new times."""
        epochs = await stream_epochs(self.js())
        known = await self._recorded()
        wiped = frozenset(name for name, created in epochs.items() if name in known and known[name] != created)
        if wiped:
            self.wipes += 1
            log.warning("JetStream's store was wiped: these streams were created again; restoring what this "
                        "service keeps on the bus", extra={"streams": sorted(wiped)})
            if self.restore is not None:
                await self.restore(wiped)
        await self._record(epochs)
        return wiped

    async def run(self, reconnects: Reconnects) -> None:
        """After each reconnection, declare everything again (until it succeeds). Runs until cancelled."""
        seen = reconnects.count
        while True:
            await reconnects.after(seen)
            seen = reconnects.count  # read before declaring: a reconnection meanwhile means declaring once more
            while True:
                try:
                    await self.declare()
                    break
                except Exception as exc:  # NATS or Postgres not back yet (their errors share no base class)
                    log.warning("cannot declare the streams and consumers yet", extra={"error": repr(exc)})
                    await asyncio.sleep(1)

    async def _recorded(self) -> dict[str, Any]:
        if self.pool is None:
            return dict(self.known)
        rows = await self.pool.fetch(f"SELECT stream, created FROM {self.schema}.stream_epochs")
        return {row["stream"]: row["created"] for row in rows}

    async def _record(self, epochs: dict[str, str]) -> None:
        self.known = dict(epochs)
        if self.pool is not None:
            await self.pool.executemany(
                f"INSERT INTO {self.schema}.stream_epochs (stream, created) VALUES ($1, $2) "
                "ON CONFLICT (stream) DO UPDATE SET created = excluded.created", list(epochs.items()))
