"""Composition root of cpu_scorer: settings → competition → connections → the durable consumer of CPU
submissions → lifespan."""

from __future__ import annotations

from pathlib import Path

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsMessage, NatsRouter
from pydantic import AliasChoices, Field

from cpu_scorer.archive import ArchiveLimits
from cpu_scorer.ground_truth import BUCKET as GROUND_TRUTH_BUCKET
from cpu_scorer.ground_truth import GroundTruthCache
from cpu_scorer.handlers import DETAILS_BUCKET, CpuScorer
from podium_runtime.consumers import durable_subscriber
from podium_runtime.jobs import job_reporter
from podium_runtime.service import Runtime, ServiceSpec, create_service_app
from podium_runtime.settings import ServiceSettings
from proto.competition import parse_competition
from proto.events import JobLogged, ScoreComputed, ScoreFailed, ScoreProgress, SubmissionReceived
from proto.streams import CPU_SCORER


class CpuScorerSettings(ServiceSettings):
    service_name: str = "cpu_scorer"
    http_port: int = Field(default=8103, validation_alias=AliasChoices("PODIUM_CPU_SCORER_HTTP_PORT"))
    competition_file: Path = Path("deploy/competition.toml")
    # Ground truths kept in memory between submissions (one per task).
    ground_truth_cache_tasks: int = Field(default=4, ge=1)


def create_app(settings: CpuScorerSettings) -> AsgiFastStream:
    competition = parse_competition(settings.competition_file.read_bytes())
    router = NatsRouter()
    scorer: list[CpuScorer] = []  # built at start-up, once the connections exist

    @durable_subscriber(router, CPU_SCORER)
    async def score_submission(event: SubmissionReceived, message: NatsMessage) -> None:
        await scorer[0].score(event, message)

    async def startup(runtime: Runtime) -> None:
        assert runtime.s3 is not None
        scorer.append(CpuScorer(
            competition=competition, limits=ArchiveLimits(), broker=runtime.broker, s3=runtime.s3,
            ground_truth=GroundTruthCache(runtime.s3, settings.ground_truth_cache_tasks),
            jobs=await job_reporter("cpu_scorer", runtime, CPU_SCORER),
        ))

    spec = ServiceSpec(
        name="cpu_scorer", uses_s3=True, buckets=(GROUND_TRUTH_BUCKET, DETAILS_BUCKET, "submissions"),
        routers=(router,), startup=startup, publishes=(ScoreComputed, ScoreFailed, ScoreProgress, JobLogged),
        consumers=(CPU_SCORER,),
    )
    return create_service_app(spec, settings)
