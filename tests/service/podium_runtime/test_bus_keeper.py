"""After a NATS restart the bus keeper declares the streams, KV buckets and the service's consumers again; when
JetStream's store was wiped (the streams were created again) it runs the service's restore hook first, once,
with the streams that were lost. A private nats-server, restarted and wiped by the test."""

from __future__ import annotations

import asyncio

import nats
import nats.js.errors

from deploy.stack import HOST
from podium_runtime.bus import BusKeeper
from podium_runtime.kv_watch import Reconnects
from proto.streams import CPU_SCORER, KV_BUCKETS, STREAMS
from tests.service.podium_runtime.conftest import NatsServer


async def test_a_wiped_store_is_declared_again_and_the_service_restores_what_it_keeps(
        private_nats: NatsServer) -> None:
    reconnects = Reconnects()
    client = await nats.connect(f"nats://{HOST}:{private_nats.port}", max_reconnect_attempts=-1,
                                reconnect_time_wait=0.2, reconnected_cb=reconnects.callback)
    restored: list[frozenset[str]] = []

    async def restore(wiped: frozenset[str]) -> None:
        # Before the consumers: the scorer's consumer must not exist yet when the service restores.
        assert not await consumer_exists()
        restored.append(wiped)

    async def consumer_exists() -> bool:
        try:
            await client.jetstream().consumer_info(CPU_SCORER.stream, CPU_SCORER.durable)
        except nats.js.errors.NotFoundError:
            return False
        return True

    keeper = BusKeeper(client.jetstream, consumers=(CPU_SCORER,), restore=restore)
    assert await keeper.declare() == frozenset()
    assert await consumer_exists()
    # Each declaration the keeper completes (what it found wiped), as it completes it.
    declared: asyncio.Queue[frozenset[str]] = asyncio.Queue()
    declare = keeper.declare

    async def reported() -> frozenset[str]:
        wiped = await declare()
        declared.put_nowait(wiped)
        return wiped

    keeper.declare = reported  # type: ignore[method-assign]
    running = asyncio.create_task(keeper.run(reconnects))
    try:
        await asyncio.to_thread(private_nats.stop)  # a restart: nothing lost, nothing to restore
        await asyncio.to_thread(private_nats.start)
        async with asyncio.timeout(30):
            assert await declared.get() == frozenset()  # declared again after the reconnection
        assert restored == [] and keeper.wipes == 0

        await asyncio.to_thread(private_nats.wipe)
        async with asyncio.timeout(30):
            while not (wiped := await declared.get()):  # past any other declaration after the restart
                pass
        assert wiped == frozenset(spec.name for spec in STREAMS)
        assert restored == [wiped] and keeper.wipes == 1
        assert await consumer_exists()
        for bucket in KV_BUCKETS:
            await client.jetstream().key_value(bucket.name)  # raises if it was not created again
    finally:
        running.cancel()
        await client.close()
