"""A KV follower keeps following across a NATS restart (a plain nats-py watch silently stops: the server
side of the watch is lost with the server). A private nats-server, restarted by the test."""

from __future__ import annotations

import asyncio

import nats

from deploy.stack import HOST
from podium_runtime.kv_watch import Reconnects, current_keys, follow
from tests.service.podium_runtime.conftest import NatsServer


async def test_a_follower_sees_changes_made_after_a_nats_restart(private_nats: NatsServer) -> None:
    reconnects = Reconnects()
    client = await nats.connect(f"nats://{HOST}:{private_nats.port}", max_reconnect_attempts=-1,
                                reconnect_time_wait=0.2, reconnected_cb=reconnects.callback)
    kv = await client.jetstream().create_key_value(bucket="followed")
    await kv.put("a", b"1")
    seen: dict[str, bytes] = {}
    loaded = asyncio.Event()

    def apply(entry: object) -> None:
        if entry is None:
            loaded.set()
        else:
            seen[entry.key] = entry.value  # type: ignore[attr-defined]

    follower = asyncio.create_task(follow(lambda: client, "followed", apply, reconnects))
    try:
        await asyncio.wait_for(loaded.wait(), 10)
        assert seen == {"a": b"1"}
        await asyncio.to_thread(private_nats.stop)
        await asyncio.to_thread(private_nats.start)
        async with asyncio.timeout(15):
            while reconnects.count == 0:
                await asyncio.sleep(0.1)
        await (await client.jetstream().key_value("followed")).put("a", b"2")
        async with asyncio.timeout(10):
            while seen.get("a") != b"2":
                await asyncio.sleep(0.05)
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await client.close()


async def test_current_keys_are_the_live_keys(private_nats: NatsServer) -> None:
    client = await nats.connect(f"nats://{HOST}:{private_nats.port}")
    try:
        kv = await client.jetstream().create_key_value(bucket="listed")
        assert await current_keys(kv) == set()
        for key in ("a", "b", "c"):
            await kv.put(key, b"1")
        await kv.delete("b")
        # Asked many times: nats-py's kv.keys() sometimes answers none here (its marker overtakes the entries).
        for _ in range(50):
            assert await current_keys(kv) == {"a", "c"}
    finally:
        await client.close()
