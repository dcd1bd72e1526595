"""A consumer declared in order (the leaderboard's) has one message in flight: when the process holding message n
dies, n + 1 is not delivered to anyone until n comes back after AckWait — so the sequence guard never sees n after
n + 1 and never skips it. A private nats-server."""

from __future__ import annotations

import msgspec
import nats
from nats.js.api import StreamConfig

from deploy.stack import HOST
from podium_runtime.consumers import consumer_config
from proto.streams import CONSUMERS, LEADERBOARD_SCORES
from tests.service.podium_runtime.conftest import NatsServer


def test_every_leaderboard_consumer_applies_its_stream_in_order() -> None:
    leaderboard = [spec for spec in CONSUMERS if spec.durable.startswith("leaderboard_service")]
    assert len(leaderboard) == 5 and all(spec.max_ack_pending == 1 for spec in leaderboard)


async def test_a_message_held_by_a_dead_process_comes_back_before_the_next_one(private_nats: NatsServer) -> None:
    spec = msgspec.structs.replace(LEADERBOARD_SCORES, ack_wait_s=1.0)
    dead = await nats.connect(f"nats://{HOST}:{private_nats.port}")
    js = dead.jetstream()
    await js.add_stream(StreamConfig(name=spec.stream, subjects=["score.>"]))
    await js.add_consumer(spec.stream, consumer_config(spec))
    for n in (1, 2):
        await js.publish("score.computed.t", f"event {n}".encode())
    held = await js.pull_subscribe_bind(spec.durable, spec.stream)
    [first] = await held.fetch(1, timeout=5)
    assert first.metadata.sequence.stream == 1
    await dead.close()  # dies holding message 1, unacknowledged

    survivor = await nats.connect(f"nats://{HOST}:{private_nats.port}")
    try:
        pulled = await survivor.jetstream().pull_subscribe_bind(spec.durable, spec.stream)
        # Message 2 is ready all along, yet the first one delivered is 1 again (after AckWait): 2 waited.
        [again] = await pulled.fetch(1, timeout=30)
        assert again.metadata.sequence.stream == 1 and again.metadata.num_delivered == 2
        await again.ack()
        [second] = await pulled.fetch(1, timeout=5)
        assert second.metadata.sequence.stream == 2
    finally:
        await survivor.close()
