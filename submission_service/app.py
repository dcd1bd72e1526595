"""Composition root of submission_service: settings → Deps (`submission_service.bootstrap`) → the handlers and the
reconciler → the request/reply operations and the reactions (score outcomes, progress, job logs, MaxDeliver
advisories) → lifespan."""

from __future__ import annotations

from datetime import timedelta

from faststream.asgi import AsgiFastStream

from podium_runtime.programs.sandbox import Isolation, SandboxConfig
from podium_runtime.service import ServiceSpec, Wired, Wiring, create_bus, create_service_app
from proto.events import (
    CompetitionChanged,
    RescoreRequested,
    ScoreFailed,
    SubmissionCancelled,
    SubmissionReceived,
    SubmissionRejected,
)
from proto.streams import SUBMISSION_STATUS
from proto.submissions import QueueMoved, SubmissionStatusChanged
from submission_service import store
from submission_service.bootstrap import NAME, Deps, SubmissionServiceSettings, bootstrap
from submission_service.handlers import SubmissionHandlers, create_routers
from submission_service.hosting import CompetitionHost
from submission_service.reconciler import Reconciler

__all__ = ["SubmissionServiceSettings", "create_app", "create_handlers", "create_host", "wire"]


def create_handlers(settings: SubmissionServiceSettings, deps: Deps) -> SubmissionHandlers:
    return SubmissionHandlers(
        competition=deps.competition, upload_ttl=timedelta(seconds=settings.upload_ttl_s), pool=deps.pool,
        s3=deps.s3, presigner=deps.presigner, broker=deps.bus.broker, cancellations=deps.cancellations,
        boards=deps.boards)


def create_host(settings: SubmissionServiceSettings, deps: Deps) -> CompetitionHost:
    return CompetitionHost(competition=deps.competition, pool=deps.pool, s3=deps.s3, presigner=deps.presigner,
                           bucket=deps.competition_bucket, upload_ttl=timedelta(seconds=settings.upload_ttl_s),
                           sandbox=SandboxConfig(isolation=Isolation(settings.program_isolation)))


def wire(settings: SubmissionServiceSettings, deps: Deps) -> Wired:
    handlers = create_handlers(settings, deps)
    host = create_host(settings, deps)
    reconciler = Reconciler(deps.pool, deps.s3, timedelta(seconds=settings.stuck_after_s), settings.max_republish)

    async def restore(wiped: frozenset[str]) -> None:
        await host.publish_current()
        await handlers.restore(wiped)

    return Wired(context={"handlers": handlers, "host": host}, pool=deps.pool, s3=deps.s3, restore=restore,
                 refresh_metrics=handlers.refresh_metrics,
                 started=lambda: host.start_up(settings.competition_seed, settings.competition_file),
                 background=(lambda: reconciler.run(settings.reconcile_interval_s),
                             lambda: host.keep_published(settings.reconcile_interval_s)))


def create_app(settings: SubmissionServiceSettings, deps: Deps | None = None) -> AsgiFastStream:
    spec = ServiceSpec(
        name=NAME,
        schema=store.SCHEMA,
        routers=create_routers(NAME),
        consumers=(SUBMISSION_STATUS,),
        publishes=(CompetitionChanged, SubmissionReceived, SubmissionRejected, RescoreRequested,
                   SubmissionStatusChanged, ScoreFailed, SubmissionCancelled, QueueMoved),
    )
    bus = deps.bus if deps is not None else create_bus(NAME, settings)
    return create_service_app(spec, settings, Wiring(
        bus=bus, bootstrap=lambda bus: bootstrap(settings, bus), wire=lambda deps: wire(settings, deps), deps=deps))
