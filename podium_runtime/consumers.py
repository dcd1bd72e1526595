"""Durable pull consumers from their `proto` definitions: explicit ack, AckWait and MaxDeliver as declared there,
events decoded by msgspec. An unhandled error Naks (redelivered at once); a scorer's job handed back carries its own
delay (`ConsumerSpec.retry_delays_s`); handlers raise FastStream's RejectMessage for a message that must never be
retried. No consumer has a JetStream BackOff: the server would take its first value as the AckWait."""

from __future__ import annotations

from typing import Any, cast

from faststream import AckPolicy
from faststream.nats import JStream, NatsRouter, PullSub
from nats.js.api import AckPolicy as JsAckPolicy
from nats.js.api import ConsumerConfig, DeliverPolicy

from podium_runtime.codec import decode_event
from proto.streams import ConsumerSpec


def consumer_config(spec: ConsumerSpec) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=spec.durable,
        filter_subject=spec.filter_subject,
        ack_policy=JsAckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.NEW if spec.deliver == "new" else DeliverPolicy.ALL,
        ack_wait=spec.ack_wait_s,
        max_deliver=spec.max_deliver,
        max_ack_pending=spec.max_ack_pending,
    )


# None: nats-py's default, the connection's inbox prefix (the service's own, the only one its NATS user may
# subscribe to), where FastStream would pass the shared `_INBOX.`. FastStream annotates the parameter as bytes but
# hands it to nats-py's pull_subscribe, which takes None.
_CONNECTION_INBOX = cast(bytes, None)


def durable_subscriber(router: NatsRouter, spec: ConsumerSpec) -> Any:
    """A decorator registering the handler on the durable consumer `spec` describes."""
    return router.subscriber(
        spec.filter_subject,
        stream=JStream(name=spec.stream, declare=False),
        durable=spec.durable,
        config=consumer_config(spec),
        pull_sub=PullSub(batch_size=1, timeout=5.0),
        decoder=decode_event,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=spec.durable,
        inbox_prefix=_CONNECTION_INBOX,
    )
