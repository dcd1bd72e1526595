"""Publishing an event straight to JetStream with its Msg-Id, for services that own no database (the
scorers): a re-publish after a crash between publish and ack is dropped by the duplicate window."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import PubAck

from podium_runtime.outbox import MSG_ID_HEADER
from podium_runtime.telemetry import producer_span
from proto import codec
from proto.events import Event


async def publish_event(js: JetStreamContext, event: Event, *, timeout_s: float = 5.0) -> PubAck:
    if not event.persisted:
        raise ValueError(f"{type(event).__name__} is live-only: publish it on core NATS")
    with producer_span(event.subject()) as headers:
        headers[MSG_ID_HEADER] = event.msg_id()
        return await js.publish(event.subject(), codec.encode(event), headers=headers, timeout=timeout_s)
