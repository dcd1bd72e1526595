"""Prometheus metrics of the platform, named once here so dashboards and alert rules
(`deploy/prometheus/alerts.yml`) have one place to look. Where the LUNA challenge's exporter had a name for a
thing, we keep it (`http_requests_total` and `http_request_duration_seconds` come from Litestar's middleware
with the prefix `http`; `validation_queue_length`, `validation_duration_seconds` are below).

prometheus_client's default registry is per process, and every service is its own process; each one serves
it at `/metrics` on its HTTP port. The gateway may run several processes on one port (`podium_runtime.workers`): they
share a multiprocess folder, and any of them serves the whole gateway's metrics (counters and histograms summed, the
gauges as their `multiprocess_mode` says)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

from proto.streams import SUBMISSIONS, ConsumerSpec

log = logging.getLogger(__name__)

# Scoring (cpu_scorer, gpu_scorer).
VALIDATION_DURATION = Histogram(
    "validation_duration_seconds", "Time to score one submission, from delivery to the published outcome",
    ["scorer", "task", "outcome"], buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
SCORING_FAILURES = Counter(
    "podium_scoring_failures_total",
    "Submissions a scorer could not score, by a short reason code (the participant's text is in the event)",
    ["scorer", "reason"],
)
SCORING_RETRIES = Counter(
    "podium_scoring_retries_total", "Jobs handed back for redelivery after a failure on the platform's side",
    ["scorer"],
)
VALIDATION_QUEUE_LENGTH = Gauge(
    "validation_queue_length", "Submissions waiting for a scorer (the scorer consumer's undelivered messages)",
    ["scorer"],
)

# JetStream consumers of this service (refreshed by the service's metrics loop).
CONSUMER_PENDING = Gauge(
    "podium_consumer_pending_messages", "Messages not yet delivered to the consumer (its lag)", ["stream", "consumer"])
CONSUMER_ACK_PENDING = Gauge(
    "podium_consumer_ack_pending_messages", "Messages delivered and not yet acknowledged", ["stream", "consumer"])
CONSUMER_REDELIVERED = Gauge(
    "podium_consumer_redelivered_messages", "Messages delivered more than once and still unacknowledged",
    ["stream", "consumer"])

# The transactional outbox of a service that owns a schema.
OUTBOX_BACKLOG = Gauge("podium_outbox_backlog", "Outbox rows not yet published to JetStream", ["schema"])
OUTBOX_OLDEST_AGE = Gauge(
    "podium_outbox_oldest_unpublished_age_seconds", "Age of the oldest unpublished outbox row (0 when none)",
    ["schema"])

# Submissions (submission_service).
SUBMISSIONS_UNFINISHED = Gauge(
    "podium_submissions_unfinished", "Submissions received and not yet scored or failed, by status", ["status"])
SUBMISSIONS_OLDEST_UNFINISHED_AGE = Gauge(
    "podium_submissions_oldest_unfinished_age_seconds",
    "Seconds since the oldest unfinished submission was received (0 when none): a stuck submission shows here")
SUBMISSIONS_TOTAL = Counter(
    "podium_submissions_total", "Submissions reaching an outcome, by task and status", ["task", "status"])

# Gateway.
WEBSOCKET_CLIENTS = Gauge("podium_websocket_clients", "Open WebSocket connections on this gateway (all its processes)",
                          multiprocess_mode="livesum")


def service_total(gauge: Gauge) -> float | None:
    """`gauge`'s value summed over the service's processes when they share a multiprocess folder
    (`podium_runtime.workers`); None for a service that is one process (its own count is the total)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return None
    (name,) = (family.name for family in gauge.describe())
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=folder)
    return sum(sample.value for family in registry.collect() if family.name == name
               for sample in family.samples if sample.name == name)


class MetricsRefresher:
    """Refreshes a service's gauges on a timer: the lag of the durable consumers it reads, its outbox's
    backlog, and whatever the service adds (`extra`). A failed pass (NATS or Postgres away) is logged and
    retried on the next tick; it never stops the service."""

    def __init__(self, js: JetStreamContext, pool: asyncpg.Pool | None, schema: str | None,
                 consumers: Sequence[ConsumerSpec], extra: Callable[[], Awaitable[None]] | None = None) -> None:
        self.js, self.pool, self.schema, self.consumers, self.extra = js, pool, schema, consumers, extra

    async def refresh(self) -> None:
        for spec in self.consumers:
            info = await self.js.consumer_info(spec.stream, spec.durable)
            labels = {"stream": spec.stream, "consumer": spec.durable}
            CONSUMER_PENDING.labels(**labels).set(info.num_pending or 0)
            CONSUMER_ACK_PENDING.labels(**labels).set(info.num_ack_pending or 0)
            CONSUMER_REDELIVERED.labels(**labels).set(info.num_redelivered or 0)
            if spec.stream == SUBMISSIONS.name:  # the consumers of submissions are the scorers
                VALIDATION_QUEUE_LENGTH.labels(scorer=spec.durable).set(info.num_pending or 0)
        if self.pool is not None and self.schema is not None:
            row = await self.pool.fetchrow(
                f"SELECT count(*) AS backlog, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age "
                f"FROM {self.schema}.outbox WHERE published_at IS NULL")
            assert row is not None  # an aggregate without GROUP BY always returns its one row
            OUTBOX_BACKLOG.labels(schema=self.schema).set(row["backlog"])
            OUTBOX_OLDEST_AGE.labels(schema=self.schema).set(float(row["age"]))
        if self.extra is not None:
            await self.extra()

    async def run(self, interval_s: float) -> None:
        while True:
            # Sleep first: at start-up the broker creates the durable consumers after this loop begins.
            await asyncio.sleep(interval_s)
            try:
                await self.refresh()
            except Exception as exc:  # nats-py, asyncpg and OSError share no base class
                log.warning("metrics refresh failed", extra={"error": repr(exc)})

# The competition (every service).
COMPETITION_VERSION = Gauge(
    "podium_competition_version", "The competition version this process uses (from the `competition` KV bucket)",
    # Several processes of one service (the gateway's workers): the oldest version any of them still uses.
    multiprocess_mode="livemin",
)
