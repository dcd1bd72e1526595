"""Composition root of gpu_scorer: settings → competition → engine (Triton when PODIUM_TRITON_URL is set,
else ONNX Runtime, one child process per evaluation) → the durable consumer of model submissions → lifespan."""

from __future__ import annotations

from pathlib import Path

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsMessage, NatsRouter
from pydantic import AliasChoices, Field

from gpu_scorer.engines import Engine, OnnxRuntimeEngine, TritonEngine
from gpu_scorer.handlers import DETAILS_BUCKET, GpuScorer
from gpu_scorer.test_set import BUCKET as TEST_SET_BUCKET
from gpu_scorer.test_set import TestSetCache
from podium_runtime.consumers import durable_subscriber
from podium_runtime.jobs import job_reporter
from podium_runtime.service import Runtime, ServiceSpec, create_service_app
from podium_runtime.settings import ServiceSettings
from proto.competition import parse_competition
from proto.events import JobLogged, ScoreComputed, ScoreFailed, ScoreProgress, SubmissionReceived
from proto.streams import GPU_SCORER


class GpuScorerSettings(ServiceSettings):
    service_name: str = "gpu_scorer"
    http_port: int = Field(default=8104, validation_alias=AliasChoices("PODIUM_GPU_SCORER_HTTP_PORT"))
    competition_file: Path = Path("deploy/competition.toml")
    # host:port of Triton's gRPC endpoint; empty: run models with ONNX Runtime in this process.
    triton_url: str = ""
    onnxruntime_threads: int = Field(default=1, ge=1)


def create_engine(settings: GpuScorerSettings) -> Engine:
    if settings.triton_url:
        return TritonEngine(settings.triton_url)
    return OnnxRuntimeEngine(settings.onnxruntime_threads)


def create_app(settings: GpuScorerSettings) -> AsgiFastStream:
    competition = parse_competition(settings.competition_file.read_bytes())
    router = NatsRouter()
    scorer: list[GpuScorer] = []  # built at start-up, once the connections exist

    @durable_subscriber(router, GPU_SCORER)
    async def score_model(event: SubmissionReceived, message: NatsMessage) -> None:
        await scorer[0].score(event, message)

    async def startup(runtime: Runtime) -> None:
        assert runtime.s3 is not None
        engine = create_engine(settings)
        await engine.start()
        scorer.append(GpuScorer(
            competition=competition, broker=runtime.broker, s3=runtime.s3, engine=engine,
            test_sets=TestSetCache(runtime.s3),
            jobs=await job_reporter("gpu_scorer", runtime, GPU_SCORER),
        ))

    spec = ServiceSpec(
        name="gpu_scorer", uses_s3=True, buckets=(TEST_SET_BUCKET, DETAILS_BUCKET, "submissions"),
        routers=(router,), startup=startup, publishes=(ScoreComputed, ScoreFailed, ScoreProgress, JobLogged),
        consumers=(GPU_SCORER,),
    )
    return create_service_app(spec, settings)
