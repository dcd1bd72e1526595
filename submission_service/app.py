"""Composition root of submission_service: settings → competition → connections → operations,
score/progress/advisory subscribers, reconciler → lifespan."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import msgspec
from faststream.asgi import AsgiFastStream
from faststream.nats import NatsMessage, NatsRouter
from pydantic import AliasChoices, Field

from podium_runtime.consumers import durable_subscriber
from podium_runtime.rpc import rpc_router
from podium_runtime.service import Runtime, ServiceSpec, create_service_app
from podium_runtime.settings import ServiceSettings
from proto import codec
from proto.competition import parse_competition
from proto.events import (
    JobLogged,
    RescoreRequested,
    ScoreComputed,
    ScoreFailed,
    ScoreProgress,
    SubmissionCancelled,
    SubmissionReceived,
    SubmissionRejected,
)
from proto.streams import CANCELLATIONS, LEADERBOARDS, SUBMISSION_STATUS, SUBMISSIONS
from proto.submissions import QueuePositionChanged, SubmissionStatusChanged
from submission_service import store
from submission_service.handlers import BUCKET, DETAILS_BUCKET, SubmissionHandlers
from submission_service.reconciler import (
    MAX_DELIVERIES_ADVISORY,
    MaxDeliveriesAdvisory,
    Reconciler,
    fail_exhausted,
    republish_in_flight,
)
from submission_service.upload_url import UploadSigner

log = logging.getLogger(__name__)
LiveEvent = TypeVar("LiveEvent", ScoreProgress, JobLogged)


class SubmissionServiceSettings(ServiceSettings):
    service_name: str = "submission_service"
    http_port: int = Field(default=8102, validation_alias=AliasChoices("PODIUM_SUBMISSION_SERVICE_HTTP_PORT"))
    competition_file: Path = Path("deploy/competition.toml")
    # How long a presigned upload URL is valid.
    upload_ttl_s: int = Field(default=900, ge=30)
    # Where participants reach S3, if not at PODIUM_S3_ENDPOINT (a presigned URL is bound to its host).
    s3_public_endpoint: str = ""
    s3_public_secure: bool = False
    # A submission without a score after this long is published again (longer than the dedup window).
    stuck_after_s: int = Field(default=900, ge=1)
    max_republish: int = Field(default=2, ge=0)
    reconcile_interval_s: float = Field(default=30.0, gt=0)


def live_event(message: NatsMessage, kind: type[LiveEvent]) -> LiveEvent | None:
    """The core-NATS event of `kind` a message carries; None for another kind, or (logged) a malformed one."""
    try:
        event = codec.decode(message.body)
    except msgspec.DecodeError:
        log.warning("ignored a malformed live message", extra={"subject": message.raw_message.subject})
        return None
    return event if isinstance(event, kind) else None


def create_app(settings: SubmissionServiceSettings) -> AsgiFastStream:
    competition = parse_competition(settings.competition_file.read_bytes())
    handlers = SubmissionHandlers(competition=competition, upload_ttl=timedelta(seconds=settings.upload_ttl_s))
    events = NatsRouter()

    @durable_subscriber(events, SUBMISSION_STATUS)
    async def on_score(event: ScoreComputed | ScoreFailed | SubmissionCancelled) -> None:
        await handlers.on_score(event)

    @events.subscriber("job.progress.>", title="submission_service progress")
    async def on_progress(message: NatsMessage) -> None:
        if (event := live_event(message, ScoreProgress)) is not None:
            await handlers.on_progress(event)

    # One replica keeps each line (a queue group): the log is bounded, duplicates would crowd it.
    @events.subscriber("job.log.>", queue="submission_service", title="submission_service job logs")
    async def on_log(message: NatsMessage) -> None:
        """Keep a scorer's log line about a submission."""
        if (event := live_event(message, JobLogged)) is not None:
            await handlers.on_log(event)

    @events.subscriber(MAX_DELIVERIES_ADVISORY, title="submission_service max deliveries")
    async def on_max_deliveries(message: NatsMessage) -> None:
        assert handlers.pool is not None and handlers.broker is not None
        advisory = msgspec.json.decode(message.body, type=MaxDeliveriesAdvisory)
        await fail_exhausted(handlers.pool, handlers.broker.connection.jetstream(), advisory)

    async def startup(runtime: Runtime) -> None:
        assert runtime.pool is not None and runtime.s3 is not None
        handlers.pool, handlers.s3, handlers.broker = runtime.pool, runtime.s3, runtime.broker
        js = runtime.broker.connection.jetstream()
        handlers.cancellations = await js.key_value(CANCELLATIONS.name)
        handlers.boards = await js.key_value(LEADERBOARDS.name)  # read for each task's reveal state
        public = settings.s3_public_endpoint
        handlers.presigner = UploadSigner(
            endpoint=public or settings.s3_endpoint,
            secure=settings.s3_public_secure if public else settings.s3_secure,
            access_key=settings.s3_access_key, secret_key=settings.s3_secret_key.get_secret_value(),
            region=settings.s3_region)
        reconciler = Reconciler(runtime.pool, runtime.s3, timedelta(seconds=settings.stuck_after_s),
                                settings.max_republish)
        runtime.background.append(asyncio.create_task(reconciler.run(settings.reconcile_interval_s)))

    async def restore(runtime: Runtime, wiped: frozenset[str]) -> None:
        if SUBMISSIONS.name in wiped:
            assert runtime.pool is not None
            await republish_in_flight(runtime.pool)

    spec = ServiceSpec(
        name="submission_service",
        schema=store.SCHEMA,
        package="submission_service",
        uses_s3=True,
        buckets=(BUCKET, DETAILS_BUCKET),
        routers=(rpc_router("submission_service", handlers.operations()), events),
        startup=startup,
        restore=restore,
        consumers=(SUBMISSION_STATUS,),
        publishes=(SubmissionReceived, SubmissionRejected, RescoreRequested, SubmissionStatusChanged, ScoreFailed,
                   SubmissionCancelled, QueuePositionChanged),
        refresh_metrics=lambda runtime: handlers.refresh_metrics(),
    )
    return create_service_app(spec, settings)
