"""JSON logs on stdout: one object per line, with the service name, any `extra` fields (e.g.
`submission_id`) and the current trace and span ids, so a log line leads to its trace and back."""

from __future__ import annotations

import logging
import sys

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter


class TraceContextFilter(logging.Filter):
    """Adds `trace_id` and `span_id` (hex, as tracing back-ends show them) when a span is current."""

    def filter(self, record: logging.LogRecord) -> bool:
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            record.trace_id = format(span_context.trace_id, "032x")
            record.span_id = format(span_context.span_id, "016x")
        return True


def json_handler(service_name: str, stream: object = sys.stdout) -> logging.Handler:
    handler = logging.StreamHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service_name},
        )
    )
    handler.addFilter(TraceContextFilter())
    return handler


def configure_logging(service_name: str, level: str = "INFO") -> None:
    root = logging.getLogger()
    root.handlers[:] = [json_handler(service_name)]
    root.setLevel(level.upper())
