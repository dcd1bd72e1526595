"""The AckWait JetStream applies to each durable consumer is the one `proto.streams` declares. A consumer with a
JetStream BackOff gets BackOff[0] as its AckWait instead: the scorers' consumers had one (5 s and 10 s against a
declared 60 s and 300 s, with in-progress acks every AckWait / 3), so a job running longer than 5 s was delivered
again, to another replica, while it ran — `bench.replicas` saw submissions scored twice. A private nats-server."""

from __future__ import annotations

import dataclasses

import nats
import pytest
from nats.js.api import StreamConfig

from deploy.stack import HOST
from podium_runtime.bus import BusKeeper
from podium_runtime.consumers import consumer_config
from proto.streams import CONSUMERS, CPU_SCORER, GPU_SCORER, STREAMS, ConsumerSpec
from tests.service.podium_runtime.conftest import NatsServer


@pytest.mark.parametrize("spec", CONSUMERS, ids=lambda spec: spec.durable)
async def test_jetstream_applies_the_declared_ack_wait(private_nats: NatsServer, spec: ConsumerSpec) -> None:
    client = await nats.connect(f"nats://{HOST}:{private_nats.port}")
    try:
        js = client.jetstream()
        stream = next(s for s in STREAMS if s.name == spec.stream)
        await js.add_stream(StreamConfig(name=stream.name, subjects=list(stream.subjects)))
        await js.add_consumer(spec.stream, consumer_config(spec))
        applied = (await js.consumer_info(spec.stream, spec.durable)).config
        assert applied.ack_wait == spec.ack_wait_s
        assert not applied.backoff
        assert applied.max_deliver == spec.max_deliver
    finally:
        await client.close()


async def test_a_scorer_consumer_declared_with_a_backoff_gets_its_ack_wait_back(private_nats: NatsServer) -> None:
    """A platform started before the fix keeps its consumers: the bus keeper's next declaration updates them."""
    client = await nats.connect(f"nats://{HOST}:{private_nats.port}")
    try:
        js = client.jetstream()
        await js.add_stream(StreamConfig(name=CPU_SCORER.stream, subjects=["submission.>"]))
        for spec in (CPU_SCORER, GPU_SCORER):
            before = dataclasses.replace(consumer_config(spec), backoff=list(spec.retry_delays_s))
            await js.add_consumer(spec.stream, before)
            assert (await js.consumer_info(spec.stream, spec.durable)).config.ack_wait == spec.retry_delays_s[0]
        await BusKeeper(client.jetstream, consumers=(CPU_SCORER, GPU_SCORER)).declare_consumers()
        for spec in (CPU_SCORER, GPU_SCORER):
            applied = (await js.consumer_info(spec.stream, spec.durable)).config
            assert applied.ack_wait == spec.ack_wait_s and not applied.backoff
    finally:
        await client.close()
