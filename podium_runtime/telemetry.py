"""Tracing across HTTP and NATS: one submission is one trace, from the upload through the outbox, the scorer
and the leaderboard update.

FastStream's telemetry middleware opens a span around every message a service handles (taking the parent from
the message's `traceparent` header) and around every publish through the broker. Podium also publishes in
three places that do not go through the broker — a request/reply call (`rpc.call`), the outbox relay (which
publishes long after the transaction that wrote the row, from another task) and `publish_event` — so those
carry the context themselves with `carry_context` and `producer_span`: the outbox stores the writer's
context in the row's headers and the relay publishes under it.

The exporter is a setting (`PODIUM_TRACES_EXPORTER`): `otlp` (to `OTEL_EXPORTER_OTLP_ENDPOINT`, the SDK's
own variable), `console` (to stderr, leaving stdout to the JSON logs) or `none`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Generator, Mapping
from typing import Literal

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

TracesExporter = Literal["none", "console", "otlp"]
tracer = trace.get_tracer("podium")


def tracer_provider(service_name: str, exporter: TracesExporter) -> TracerProvider | None:
    """The tracer provider the setting asks for; `None` for `none`: spans are not recorded, but incoming
    context is still passed on, so a traced caller's trace is not broken by us."""
    if exporter == "none":
        return None
    span_exporter: SpanExporter
    if exporter == "console":
        span_exporter = ConsoleSpanExporter(out=sys.stderr)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    return provider


def configure_tracing(service_name: str, exporter: TracesExporter) -> TracerProvider | None:
    """Install the process's tracer provider (once, at start: OpenTelemetry allows one per process)."""
    provider = tracer_provider(service_name, exporter)
    if provider is not None:
        trace.set_tracer_provider(provider)
    return provider


def carry_context(headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """`headers` plus the current trace context (`traceparent`), for a message sent outside the broker."""
    carried = dict(headers or {})
    propagate.inject(carried)
    return carried


@contextlib.contextmanager
def producer_span(subject: str, headers: Mapping[str, str] | None = None,
                  kind: trace.SpanKind = trace.SpanKind.PRODUCER) -> Generator[dict[str, str], None, None]:
    """A span for sending one message on `subject`, child of the context in `headers` when they carry one
    (an outbox row) or of the current span; yields the headers to send, carrying this span's context."""
    parent = propagate.extract(dict(headers)) if headers and "traceparent" in headers else context.get_current()
    attributes = {"messaging.system": "nats", "messaging.destination.name": subject}
    with tracer.start_as_current_span(f"{subject} publish", context=parent, kind=kind, attributes=attributes):
        yield carry_context(headers)
