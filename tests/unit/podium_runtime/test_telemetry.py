"""Tracing set-up and context passing, and JSON logs that carry the trace id, without any server."""

from __future__ import annotations

import io
import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import ValidationError

from podium_runtime.logging import json_handler
from podium_runtime.settings import ServiceSettings
from podium_runtime.telemetry import carry_context, producer_span, tracer_provider


@pytest.fixture
def recorded() -> tuple[trace.Tracer, InMemorySpanExporter]:
    """A local provider (the process-wide one can be set only once), patched in as the module's tracer."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider.get_tracer("test"), memory


def _exporters(provider: TracerProvider) -> list[object]:
    # The exporter of each processor (all of them simple or batch processors, which have one).
    processors = provider._active_span_processor._span_processors  # noqa: SLF001
    return [p.span_exporter for p in processors]  # pyright: ignore[reportAttributeAccessIssue]


def test_none_records_nothing() -> None:
    assert tracer_provider("svc", "none") is None


def test_console_exports_to_stderr_and_names_the_service() -> None:
    provider = tracer_provider("cpu_scorer", "console")
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "cpu_scorer"
    assert [type(e) for e in _exporters(provider)] == [ConsoleSpanExporter]
    provider.shutdown()


def test_otlp_reads_the_sdk_endpoint_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.example:4318")
    provider = tracer_provider("gateway", "otlp")
    assert provider is not None
    (exporter,) = _exporters(provider)
    assert isinstance(exporter, OTLPSpanExporter)
    assert exporter._endpoint == "http://collector.example:4318/v1/traces"  # noqa: SLF001
    provider.shutdown()


def test_an_unknown_exporter_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_TRACES_EXPORTER", "zipkin")
    with pytest.raises(ValidationError, match="traces_exporter"):
        ServiceSettings()


def test_carry_context_adds_the_current_span_and_keeps_other_headers(
        recorded: tuple[trace.Tracer, InMemorySpanExporter]) -> None:
    tracer, _ = recorded
    assert "traceparent" not in carry_context({"Nats-Msg-Id": "x"})  # no span, nothing to carry
    with tracer.start_as_current_span("upload") as span:
        headers = carry_context({"Nats-Msg-Id": "x"})
    assert headers["Nats-Msg-Id"] == "x"
    assert headers["traceparent"].split("-")[1] == format(span.get_span_context().trace_id, "032x")


def test_producer_span_continues_the_trace_stored_in_headers(
        recorded: tuple[trace.Tracer, InMemorySpanExporter], monkeypatch: pytest.MonkeyPatch) -> None:
    """The outbox relay publishes long after the writer's span ended, from another task: the row's headers
    are the only link, and the publish span must hang under the writer's span."""
    tracer, memory = recorded
    monkeypatch.setattr("podium_runtime.telemetry.tracer", tracer)
    with tracer.start_as_current_span("write row"):
        stored = carry_context()
    with producer_span("submission.received.cpu.t", stored) as sent:
        pass
    writer, publish = memory.get_finished_spans()
    assert publish.name == "submission.received.cpu.t publish"
    assert publish.context is not None and writer.context is not None
    assert publish.parent is not None and publish.parent.span_id == writer.context.span_id
    assert publish.context.trace_id == writer.context.trace_id
    # What goes on the wire names the publish span as the parent of whatever consumes it.
    assert sent["traceparent"].split("-")[2] == format(publish.context.span_id, "016x")


def test_json_logs_carry_the_trace_and_span_ids(recorded: tuple[trace.Tracer, InMemorySpanExporter]) -> None:
    tracer, _ = recorded
    out = io.StringIO()
    logger = logging.getLogger("test.telemetry")
    logger.addHandler(json_handler("cpu_scorer", out))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        logger.warning("outside any span")
        with tracer.start_as_current_span("scoring") as span:
            logger.info("submission scored", extra={"submission_id": "42"})
    finally:
        logger.handlers.clear()
        logger.propagate = True
    outside, inside = (json.loads(line) for line in out.getvalue().splitlines())
    assert "trace_id" not in outside and outside["service"] == "cpu_scorer"
    context = span.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert (inside["submission_id"], inside["message"], inside["level"]) == ("42", "submission scored", "INFO")
