"""gpu_scorer's dependencies, built in one place (`podium_runtime.service` describes the shape): its settings,
`Deps` and `bootstrap`, which the app's lifespan opens and a test may open (or fake) itself. The engine is Triton
when PODIUM_TRITON_URL is set, else ONNX Runtime, one child process per evaluation. The competition comes from the
`competition` KV bucket, followed for as long as the scorer runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from minio import Minio
from pydantic import AliasChoices, Field

from gpu_scorer.engines import Engine, OnnxRuntimeEngine, TritonEngine
from podium_runtime.competition import CurrentCompetition, follow_competition
from podium_runtime.ground_truth import BUCKET as TEST_SET_BUCKET
from podium_runtime.ground_truth import GroundTruthCache, TestSet, parse_test_set
from podium_runtime.jobs import JobReporter, open_job_reporter
from podium_runtime.service import Bus, connect_bus, open_object_store
from podium_runtime.settings import ServiceSettings
from proto.storage import DETAILS_BUCKET, SUBMISSIONS_BUCKET
from proto.streams import GPU_SCORER

NAME = "gpu_scorer"
BUCKETS = (TEST_SET_BUCKET, DETAILS_BUCKET, SUBMISSIONS_BUCKET)


class GpuScorerSettings(ServiceSettings):
    service_name: str = NAME
    http_port: int = Field(default=8104, validation_alias=AliasChoices("PODIUM_GPU_SCORER_HTTP_PORT"))
    # host:port of Triton's gRPC endpoint; empty: run models with ONNX Runtime in this process.
    triton_url: str = ""
    onnxruntime_threads: int = Field(default=1, ge=1)


def create_engine(settings: GpuScorerSettings) -> Engine:
    if settings.triton_url:
        return TritonEngine(settings.triton_url)
    return OnnxRuntimeEngine(settings.onnxruntime_threads)


@dataclass(frozen=True)
class Deps:
    competition: CurrentCompetition
    bus: Bus
    s3: Minio
    engine: Engine
    test_sets: GroundTruthCache[TestSet]
    jobs: JobReporter


@asynccontextmanager
async def bootstrap(settings: GpuScorerSettings, bus: Bus) -> AsyncIterator[Deps]:
    await connect_bus(bus, settings)
    s3 = await open_object_store(settings, BUCKETS)
    engine = create_engine(settings)
    await engine.start()
    async with follow_competition(bus) as competition, open_job_reporter(NAME, bus, GPU_SCORER) as jobs:
        yield Deps(competition=competition, bus=bus, s3=s3, engine=engine,
                   test_sets=GroundTruthCache(s3, parse_test_set), jobs=jobs)
