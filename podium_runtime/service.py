"""The common composition of a back-end service: a FastStream NATS app served over ASGI, whose lifespan
opens the service's connections, declares the streams, applies its migrations and runs its outbox relay,
and whose small HTTP side answers `/health`, `/liveness`, `/readiness` (for probes and `make run`) and
`/metrics` (Prometheus). Every message handled or published through the broker is traced and counted by
FastStream's telemetry and Prometheus middlewares.

Wiring, one bootstrap per service (cosmicpython's `bootstrap.py` is the model):

- `<service>/bootstrap.py` has `Deps`, a frozen dataclass of everything the service's handlers use — its `Bus`,
  database pool, object store, KV buckets, stores — every field required; and `bootstrap(settings, bus)`, an
  async context manager that connects the bus (`connect_bus`), opens the rest (`open_database`,
  `open_object_store`, ...) and yields the `Deps`, closing what it opened on the way out.
- `<service>/app.py` has `create_app(settings, deps=None)`: it declares the routers (the subscribers take their
  handler objects from FastStream's context, `Context("scorer")`) and a `wire(deps) -> Wired` that builds those
  objects with the Deps as required constructor arguments (`wire(settings, deps)` where the handlers also take
  values from the settings, such as auth_service's token policy). Without `deps` the app's lifespan opens them with
  `bootstrap` and closes them at shutdown; with `deps` (fakes under FastStream's `TestNatsBroker`, or real ones a
  test opened with `bootstrap`) they are wired at once, and whoever opened them closes them.
- A command-line tool opens the same `bootstrap` on a `command_bus` and builds the handlers it needs from the Deps.

`wire` returns a `Wired`: the handler objects for the context, and what the runtime does with them beside the
subscribers — the outbox relay and the bus keeper on the service's pool, `/readiness` on its pool and object store,
a hook once connected (`started`), one after JetStream's store was wiped (`restore`), the service's own gauges
(`refresh_metrics`) and its own loops (`background`, cancelled at shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg
import msgspec
from faststream._internal.context import ContextRepo
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import Scope
from faststream.nats import NatsBroker, NatsRouter
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.prometheus import NatsPrometheusMiddleware
from minio import Minio
from nats.js import JetStreamContext
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from podium_runtime import nats_access
from podium_runtime.bus import BusKeeper, Restore
from podium_runtime.connections import create_pg_pool, create_s3, ensure_kv_buckets, ensure_streams
from podium_runtime.kv_watch import Reconnects
from podium_runtime.metrics import MetricsRefresher
from podium_runtime.migrations import apply_migrations, service_migrations
from podium_runtime.outbox import OutboxRelay
from podium_runtime.settings import PlatformSettings, ServiceSettings
from proto.events import Event
from proto.streams import ConsumerSpec
from proto.subjects import health as health_subject

log = logging.getLogger(__name__)
# A command-line tool's tries to reach NATS (2 s apart, nats-py's reconnect wait) before it gives up.
COMMAND_CONNECT_ATTEMPTS = 5
# FastStream's own logger prints colored text; this one goes through the JSON root handler.
framework_log = logging.getLogger("podium.faststream")
D = TypeVar("D")


@dataclass(frozen=True)
class ServiceSpec:
    """What a service needs from the platform; each service's `app.py` declares one."""

    name: str
    routers: Sequence[NatsRouter] = ()
    # The Postgres schema the service owns (its outbox is relayed from it); None = no database.
    schema: str | None = None
    # The durable consumers it reads (their lag is a metric, refreshed on a timer).
    consumers: Sequence[ConsumerSpec] = ()
    # The events it publishes (through its outbox, JetStream or core NATS), for the AsyncAPI document.
    publishes: Sequence[type[Event]] = ()


@dataclass(frozen=True)
class Bus:
    """A service's side of NATS: its FastStream broker (msgspec events, every message traced and counted) and the
    connection's reconnections (KV followers watch again after one)."""

    name: str
    broker: NatsBroker
    reconnects: Reconnects

    def jetstream(self) -> JetStreamContext:
        return self.broker.connection.jetstream()  # pyright: ignore[reportUnknownMemberType]  # nats-py: **opts


def create_bus(name: str, settings: PlatformSettings, *, connect_attempts: int = -1) -> Bus:
    """The service's bus, not connected yet (building an app connects to nothing). `connect_attempts`: how often
    to try reaching NATS before giving up (-1: a service waits for it as long as it takes)."""
    reconnects = Reconnects()
    # serializer=None: handlers take msgspec events decoded by podium_runtime.codec, not pydantic models.
    broker = NatsBroker(
        settings.nats_servers, connect_timeout=5, max_reconnect_attempts=connect_attempts, serializer=None,
        logger=framework_log,
        **settings.nats_broker_options(),
        middlewares=(NatsTelemetryMiddleware(), NatsPrometheusMiddleware(registry=REGISTRY, app_name=name)),
        reconnected_cb=reconnects.callback,
    )
    return Bus(name, broker, reconnects)


async def connect_bus(bus: Bus, settings: PlatformSettings) -> None:
    """Connect, and declare the streams and KV buckets the service's NATS user may declare."""
    await bus.broker.connect()
    js = bus.jetstream()
    await ensure_streams(js, settings.stream_replicas, nats_access.streams_owned(bus.name))
    await ensure_kv_buckets(js, settings.stream_replicas, nats_access.buckets(bus.name))


@contextlib.asynccontextmanager
async def command_bus(name: str, settings: PlatformSettings) -> AsyncGenerator[Bus]:
    """A service's bus for a command-line tool, stopped on the way out (an app stops its own). A command gives up
    when NATS stays unreachable (nats-py's NoServersError) instead of waiting for it as a service does."""
    bus = create_bus(name, settings, connect_attempts=COMMAND_CONNECT_ATTEMPTS)
    try:
        yield bus
    finally:
        await bus.broker.stop()


@contextlib.asynccontextmanager
async def open_database(settings: PlatformSettings, schema: str, package: str, *,
                        max_size: int | None = None) -> AsyncGenerator[asyncpg.Pool]:
    """The service's Postgres pool, its migrations applied; closed on the way out."""
    pool = await create_pg_pool(settings, max_size=max_size)
    try:
        async with pool.acquire() as conn:
            applied = await apply_migrations(conn, schema, service_migrations(package))
        log.info("migrations applied", extra={"schema": schema, "applied": [m.name for m in applied]})
        yield pool
    finally:
        await pool.close()


async def open_object_store(settings: PlatformSettings, buckets: Sequence[str]) -> Minio:
    """The S3 client, with the service's buckets made where missing."""
    s3 = create_s3(settings)
    for bucket in buckets:
        if not await asyncio.to_thread(s3.bucket_exists, bucket):
            await asyncio.to_thread(s3.make_bucket, bucket)
    return s3


@dataclass(frozen=True)
class Wired:
    """A service's handler objects, built from its Deps, and what the runtime does with them."""

    # What the subscribers take from FastStream's context, by name.
    context: Mapping[str, object]
    # The service's database when it owns one (the outbox relay, the bus keeper, the gauges and /readiness use
    # it), its object store when it uses one (/readiness checks it).
    pool: asyncpg.Pool | None = None
    s3: Minio | None = None
    # Run once connected, before the durable consumers are declared (the leaderboard publishes its boards).
    started: Callable[[], Awaitable[None]] | None = None
    restore: Restore | None = None
    refresh_metrics: Callable[[], Awaitable[None]] | None = None
    # The service's own loops (submission_service's reconciler), run beside the subscribers until shutdown.
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()


@dataclass(frozen=True)
class Wiring(Generic[D]):
    """How `create_service_app` puts a service together from its Deps (see the module's docstring)."""

    bus: Bus
    bootstrap: Callable[[Bus], AbstractAsyncContextManager[D]]
    wire: Callable[[D], Wired]
    # Ready-made Deps (a test's): wired as they are, neither opened nor closed by the app.
    deps: D | None = None


async def readiness_checks(broker: NatsBroker, pool: asyncpg.Pool | None, s3: Minio | None) -> dict[str, str]:
    """Each connection's state, for `/readiness`: "ok" or the reason it is not."""
    results: dict[str, str] = {}
    results["nats"] = "ok" if await broker.ping(timeout=2.0) else "unreachable"
    if pool is not None:
        try:
            async with asyncio.timeout(2.0):
                await pool.fetchval("SELECT 1")
            results["postgres"] = "ok"
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            results["postgres"] = f"unreachable: {exc!r}"
    if s3 is not None:
        try:
            async with asyncio.timeout(2.0):
                await asyncio.to_thread(s3.list_buckets)
            results["s3"] = "ok"
        except Exception as exc:  # minio raises urllib3, S3Error or OSError
            results["s3"] = f"unreachable: {exc!r}"
    return results


class _ServiceProcess(Generic[D]):
    """One service process's life: its Deps (opened here unless given), its handler objects in FastStream's
    context, and the runtime's own tasks (outbox relay, bus keeper, gauges)."""

    def __init__(self, spec: ServiceSpec, settings: ServiceSettings, wiring: Wiring[D], context: ContextRepo) -> None:
        self.spec, self.settings, self.wiring, self.context = spec, settings, wiring, context
        self.opened = contextlib.AsyncExitStack()
        self.background: list[asyncio.Task[None]] = []
        self.wired = self._wire(wiring.deps) if wiring.deps is not None else None

    def _wire(self, deps: D) -> Wired:
        wired = self.wiring.wire(deps)
        for name, value in wired.context.items():
            self.context.set_global(name, value)
        return wired

    async def start(self) -> None:
        spec, settings, bus = self.spec, self.settings, self.wiring.bus
        wired = self.wired
        if wired is None:
            wired = self.wired = self._wire(await self.opened.enter_async_context(self.wiring.bootstrap(bus)))
        if spec.schema is not None and wired.pool is not None:
            relay = OutboxRelay(wired.pool, spec.schema, bus.jetstream(), poll_interval_s=settings.outbox_poll_s)
            self.background.append(asyncio.create_task(relay.run(), name=f"outbox-relay-{spec.schema}"))
        for loop in wired.background:
            self.background.append(asyncio.create_task(loop()))
        if wired.started is not None:
            await wired.started()
        keeper = BusKeeper(
            bus.jetstream, replicas=settings.stream_replicas, consumers=spec.consumers,
            buckets=nats_access.buckets(spec.name), updates=nats_access.streams_owned(spec.name),
            pool=wired.pool, schema=spec.schema, restore=wired.restore)
        await keeper.check()  # the streams and buckets are declared by the bootstrap
        await keeper.declare_consumers()  # before FastStream binds its subscribers: an upgrade's settings apply
        self.background.append(asyncio.create_task(keeper.run(bus.reconnects), name="bus-keeper"))
        refresher = MetricsRefresher(bus.jetstream(), wired.pool, spec.schema, spec.consumers,
                                     extra=wired.refresh_metrics)
        self.background.append(asyncio.create_task(refresher.run(settings.metrics_interval_s)))

    async def stop(self) -> None:
        for task in self.background:
            task.cancel()
        for task in self.background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.opened.aclose()

    async def readiness(self) -> dict[str, object]:
        wired = self.wired
        checks = await readiness_checks(self.wiring.bus.broker, wired.pool if wired else None,
                                        wired.s3 if wired else None)
        return {"service": self.spec.name, "ready": all(state == "ok" for state in checks.values()),
                "checks": checks}


_json = msgspec.json.Encoder()


def _json_response(body: object, status: int) -> AsgiResponse:
    return AsgiResponse(_json.encode(body), status, headers={"content-type": "application/json"})


def _probe_routes(name: str, process: _ServiceProcess[Any]) -> list[tuple[str, Any]]:
    @get(include_in_schema=False)
    async def liveness(scope: Scope) -> AsgiResponse:
        return _json_response({"service": name, "status": "alive"}, 200)

    @get(include_in_schema=False)
    async def readiness(scope: Scope) -> AsgiResponse:
        report = await process.readiness()
        return _json_response(report, 200 if report["ready"] else 503)

    @get(include_in_schema=False)
    async def metrics(scope: Scope) -> AsgiResponse:
        return AsgiResponse(generate_latest(REGISTRY), 200, headers={"content-type": CONTENT_TYPE_LATEST})

    return [("/health", readiness), ("/readiness", readiness), ("/liveness", liveness), ("/metrics", metrics)]


def create_service_app(spec: ServiceSpec, settings: ServiceSettings, wiring: Wiring[Any]) -> AsgiFastStream:
    """The service's app: its routers on the wiring's bus, its handlers built from its Deps (see the module's
    docstring), the runtime's own tasks and the probe routes."""
    broker = wiring.bus.broker
    for router in spec.routers:
        broker.include_router(router)
    app = AsgiFastStream(broker, logger=framework_log)
    process = _ServiceProcess(spec, settings, wiring, app.context)

    # The readiness report over NATS request/reply, so the gateway can show the whole platform's health.
    @broker.subscriber(health_subject(spec.name))
    async def answer_health(request: str = "") -> dict[str, object]:
        return await process.readiness()

    @app.on_startup
    async def start() -> None:
        await process.start()

    @app.on_shutdown
    async def stop() -> None:
        await process.stop()

    for path, route in _probe_routes(spec.name, process):
        app.mount(path, route)
    app.podium_spec = spec  # type: ignore[attr-defined]  # what deploy/specs.py documents
    return app
