"""FastStream's side of the contracts: a decoder that turns a NATS message into its `proto` event, so a
handler is typed by the event it takes (`async def handle(event: SubmissionReceived)`). Brokers are built
with `serializer=None`: msgspec, not pydantic, validates the wire types."""

from __future__ import annotations

from faststream.message import StreamMessage

from proto import codec
from proto.events import AnyEvent


async def decode_event(message: StreamMessage[object]) -> AnyEvent:
    return codec.decode(message.body)
