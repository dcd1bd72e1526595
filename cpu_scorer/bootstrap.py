"""cpu_scorer's dependencies, built in one place (`podium_runtime.service` describes the shape): its settings,
`Deps` and `bootstrap`, which the app's lifespan opens and a test may open (or fake) itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from minio import Minio
from pydantic import AliasChoices, Field

from cpu_scorer.ground_truth import BUCKET as GROUND_TRUTH_BUCKET
from cpu_scorer.ground_truth import GroundTruthCache
from cpu_scorer.handlers import DETAILS_BUCKET, SUBMISSIONS_BUCKET
from podium_runtime.jobs import JobReporter, open_job_reporter
from podium_runtime.service import Bus, connect_bus, open_object_store
from podium_runtime.settings import ServiceSettings
from proto.competition import Competition, parse_competition
from proto.streams import CPU_SCORER

NAME = "cpu_scorer"
BUCKETS = (GROUND_TRUTH_BUCKET, DETAILS_BUCKET, SUBMISSIONS_BUCKET)


class CpuScorerSettings(ServiceSettings):
    service_name: str = NAME
    http_port: int = Field(default=8103, validation_alias=AliasChoices("PODIUM_CPU_SCORER_HTTP_PORT"))
    competition_file: Path = Path("deploy/competition.toml")
    # Ground truths kept in memory between submissions (one per task).
    ground_truth_cache_tasks: int = Field(default=4, ge=1)


@dataclass(frozen=True)
class Deps:
    competition: Competition
    bus: Bus
    s3: Minio
    ground_truth: GroundTruthCache
    jobs: JobReporter


@asynccontextmanager
async def bootstrap(settings: CpuScorerSettings, bus: Bus) -> AsyncIterator[Deps]:
    competition = parse_competition(settings.competition_file.read_bytes())
    await connect_bus(bus, settings)
    s3 = await open_object_store(settings, BUCKETS)
    async with open_job_reporter(NAME, bus, CPU_SCORER) as jobs:
        yield Deps(competition=competition, bus=bus, s3=s3,
                   ground_truth=GroundTruthCache(s3, settings.ground_truth_cache_tasks), jobs=jobs)
