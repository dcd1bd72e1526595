"""The common composition of a back-end service: a FastStream NATS app served over ASGI, whose lifespan
opens the service's connections, declares the streams, applies its migrations and runs its outbox relay,
and whose small HTTP side answers `/health`, `/liveness`, `/readiness` (for probes and `make run`) and
`/metrics` (Prometheus). Every message handled or published through the broker is traced and counted by
FastStream's telemetry and Prometheus middlewares."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import asyncpg
import msgspec
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import Scope
from faststream.nats import NatsBroker, NatsRouter
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.prometheus import NatsPrometheusMiddleware
from minio import Minio
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from podium_runtime import nats_access
from podium_runtime.bus import BusKeeper
from podium_runtime.connections import create_pg_pool, create_s3, ensure_kv_buckets, ensure_streams
from podium_runtime.kv_watch import Reconnects
from podium_runtime.metrics import MetricsRefresher
from podium_runtime.migrations import apply_migrations, service_migrations
from podium_runtime.outbox import OutboxRelay
from podium_runtime.settings import ServiceSettings
from proto.events import Event
from proto.streams import ConsumerSpec
from proto.subjects import health as health_subject

log = logging.getLogger(__name__)
# FastStream's own logger prints colored text; this one goes through the JSON root handler.
framework_log = logging.getLogger("podium.faststream")


@dataclass(frozen=True)
class ServiceSpec:
    """What a service needs from the platform; each service's `app.py` declares one."""

    name: str
    routers: Sequence[NatsRouter] = ()
    # The Postgres schema the service owns (its migrations live in `<package>/sql/`); None = no database.
    schema: str | None = None
    package: str | None = None
    uses_s3: bool = False
    buckets: Sequence[str] = ()
    # The service's own start-up, once its connections are open and its migrations applied.
    startup: Callable[[Runtime], Awaitable[None]] | None = None
    # The durable consumers it reads (their lag is a metric) and its own gauges, refreshed on a timer.
    consumers: Sequence[ConsumerSpec] = ()
    refresh_metrics: Callable[[Runtime], Awaitable[None]] | None = None
    # The events it publishes (through its outbox, JetStream or core NATS), for the AsyncAPI document.
    publishes: Sequence[type[Event]] = ()
    # After JetStream's store was wiped (these streams were created again): put back what the service keeps on
    # the bus, before its consumers are declared again (`podium_runtime.bus`).
    restore: Callable[[Runtime, frozenset[str]], Awaitable[None]] | None = None


@dataclass
class Runtime:
    """The live connections of one service process, shared by its handlers through FastStream's context."""

    settings: ServiceSettings
    broker: NatsBroker
    pool: asyncpg.Pool | None = None
    s3: Minio | None = None
    background: list[asyncio.Task[None]] = field(default_factory=list)
    # The NATS connection's reconnections, so KV followers watch again after a NATS restart.
    reconnects: Reconnects = field(default_factory=Reconnects)

    async def checks(self) -> dict[str, str]:
        """Each dependency's state, for `/readiness`: "ok" or the reason it is not."""
        results: dict[str, str] = {}
        results["nats"] = "ok" if await self.broker.ping(timeout=2.0) else "unreachable"
        if self.pool is not None:
            try:
                async with asyncio.timeout(2.0):
                    await self.pool.fetchval("SELECT 1")
                results["postgres"] = "ok"
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                results["postgres"] = f"unreachable: {exc!r}"
        if self.s3 is not None:
            try:
                async with asyncio.timeout(2.0):
                    await asyncio.to_thread(self.s3.list_buckets)
                results["s3"] = "ok"
            except Exception as exc:  # minio raises urllib3, S3Error or OSError
                results["s3"] = f"unreachable: {exc!r}"
        return results


_json = msgspec.json.Encoder()


def _json_response(body: object, status: int) -> AsgiResponse:
    return AsgiResponse(_json.encode(body), status, headers={"content-type": "application/json"})


def create_service_app(spec: ServiceSpec, settings: ServiceSettings) -> AsgiFastStream:
    # serializer=None: handlers take msgspec events decoded by podium_runtime.codec, not pydantic models.
    reconnects = Reconnects()
    broker = NatsBroker(
        settings.nats_servers, connect_timeout=5, max_reconnect_attempts=-1, serializer=None, logger=framework_log,
        **settings.nats_broker_options(),
        middlewares=(NatsTelemetryMiddleware(), NatsPrometheusMiddleware(registry=REGISTRY, app_name=spec.name)),
        reconnected_cb=reconnects.callback,
    )
    for router in spec.routers:
        broker.include_router(router)
    runtime = Runtime(settings=settings, broker=broker, reconnects=reconnects)

    async def on_startup() -> None:
        await broker.connect()
        js = broker.connection.jetstream()
        await ensure_streams(js, settings.stream_replicas, nats_access.streams_owned(spec.name))
        await ensure_kv_buckets(js, settings.stream_replicas, nats_access.buckets(spec.name))
        if spec.schema is not None:
            runtime.pool = await create_pg_pool(settings)
            async with runtime.pool.acquire() as conn:
                applied = await apply_migrations(conn, spec.schema, service_migrations(spec.package or spec.name))
            log.info("migrations applied", extra={"schema": spec.schema, "applied": [m.name for m in applied]})
            relay = OutboxRelay(
                runtime.pool, spec.schema, broker.connection.jetstream(), poll_interval_s=settings.outbox_poll_s
            )
            runtime.background.append(asyncio.create_task(relay.run(), name=f"outbox-relay-{spec.schema}"))
        if spec.uses_s3:
            runtime.s3 = create_s3(settings)
            for bucket in spec.buckets:
                if not await asyncio.to_thread(runtime.s3.bucket_exists, bucket):
                    await asyncio.to_thread(runtime.s3.make_bucket, bucket)
        if spec.startup is not None:
            await spec.startup(runtime)
        keeper = BusKeeper(
            lambda: broker.connection.jetstream(), replicas=settings.stream_replicas, consumers=spec.consumers,
            buckets=nats_access.buckets(spec.name), updates=nats_access.streams_owned(spec.name),
            pool=runtime.pool, schema=spec.schema,
            restore=(lambda wiped: spec.restore(runtime, wiped)) if spec.restore else None)
        await keeper.check()  # the streams and buckets are declared above
        await keeper.declare_consumers()  # before FastStream binds its subscribers: an upgrade's settings apply
        runtime.background.append(asyncio.create_task(keeper.run(reconnects), name="bus-keeper"))
        refresher = MetricsRefresher(
            js, runtime.pool, spec.schema, spec.consumers,
            extra=(lambda: spec.refresh_metrics(runtime)) if spec.refresh_metrics else None)
        runtime.background.append(asyncio.create_task(refresher.run(settings.metrics_interval_s)))

    async def on_shutdown() -> None:
        for task in runtime.background:
            task.cancel()
        for task in runtime.background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if runtime.pool is not None:
            await runtime.pool.close()

    async def readiness_report() -> dict[str, object]:
        checks = await runtime.checks()
        return {"service": spec.name, "ready": all(state == "ok" for state in checks.values()), "checks": checks}

    # The same report over NATS request/reply, so the gateway can show the whole platform's health.
    @broker.subscriber(health_subject(spec.name))
    async def answer_health(request: str = "") -> dict[str, object]:
        return await readiness_report()

    @get(include_in_schema=False)
    async def liveness(scope: Scope) -> AsgiResponse:
        return _json_response({"service": spec.name, "status": "alive"}, 200)

    @get(include_in_schema=False)
    async def readiness(scope: Scope) -> AsgiResponse:
        report = await readiness_report()
        return _json_response(report, 200 if report["ready"] else 503)

    @get(include_in_schema=False)
    async def metrics(scope: Scope) -> AsgiResponse:
        return AsgiResponse(generate_latest(REGISTRY), 200, headers={"content-type": CONTENT_TYPE_LATEST})

    app = AsgiFastStream(
        broker,
        asgi_routes=[("/health", readiness), ("/readiness", readiness), ("/liveness", liveness),
                     ("/metrics", metrics)],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        logger=framework_log,
    )
    app.context.set_global("runtime", runtime)
    app.podium_spec = spec  # type: ignore[attr-defined]  # what deploy/specs.py documents
    return app
