"""Encoders and decoders for events, built once and reused."""

from __future__ import annotations

import msgspec

from proto.events import AnyEvent, Event

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AnyEvent)


def encode(event: Event) -> bytes:
    return _encoder.encode(event)


def decode(payload: bytes) -> AnyEvent:
    """Decode any known event by its `type` tag; raises `msgspec.ValidationError` on anything else."""
    return _decoder.decode(payload)
