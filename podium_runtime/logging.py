"""JSON logs on stdout: one object per line, with the service name, any `extra` fields (e.g.
`submission_id`) and the current trace and span ids, so a log line leads to its trace and back."""

from __future__ import annotations

import logging
import re
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


# A path or URL with a query string, as uvicorn logs a WebSocket ('"WebSocket /ws?token=…" [accepted]') or a
# library logs a request: the query may carry a credential (a token, a presigned signature).
_QUERY = re.compile(r"((?:https?://|wss?://|/)[^\s?\"']*)\?[^\s\"']*")


def redact_queries(text: str) -> str:
    return _QUERY.sub(r"\1?[redacted]", text)


class RedactQueryFilter(logging.Filter):
    """Every logged URL loses its query string, whatever logger wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_queries(message)
        if redacted != message:
            record.msg, record.args = redacted, None
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
    handler.addFilter(RedactQueryFilter())
    return handler


def configure_logging(service_name: str, level: str = "INFO") -> None:
    root = logging.getLogger()
    root.handlers[:] = [json_handler(service_name)]
    root.setLevel(level.upper())
