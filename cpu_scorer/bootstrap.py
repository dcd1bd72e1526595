"""cpu_scorer's dependencies, built in one place (`podium_runtime.service` describes the shape): its settings,
`Deps` and `bootstrap`, which the app's lifespan opens and a test may open (or fake) itself. The competition comes
from the `competition` KV bucket, followed for as long as the scorer runs."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from minio import Minio
from pydantic import AliasChoices, Field

from cpu_scorer.programs import ProgramFiles
from cpu_scorer.roles import CONSUMERS, Role
from podium_runtime.competition import CurrentCompetition, follow_competition
from podium_runtime.ground_truth import BUCKET as GROUND_TRUTH_BUCKET
from podium_runtime.ground_truth import GroundTruthCache, parse_arrays, parse_coco, parse_masks, parse_solution
from podium_runtime.jobs import JobReporter, open_job_reporter
from podium_runtime.programs.pool import ProgramPool
from podium_runtime.programs.sandbox import Isolation, SandboxConfig
from podium_runtime.scoring.formats.coco import CocoTruth
from podium_runtime.scoring.formats.csv import Solution
from podium_runtime.scoring.formats.masks import Masks
from podium_runtime.service import Bus, connect_bus, open_object_store
from podium_runtime.settings import ServiceSettings
from proto.storage import DETAILS_BUCKET, PROGRAMS_BUCKET, SUBMISSIONS_BUCKET

NAME = "cpu_scorer"
BUCKETS = (GROUND_TRUTH_BUCKET, DETAILS_BUCKET, SUBMISSIONS_BUCKET, PROGRAMS_BUCKET)


class CpuScorerSettings(ServiceSettings):
    service_name: str = NAME
    http_port: int = Field(default=8103, validation_alias=AliasChoices("PODIUM_CPU_SCORER_HTTP_PORT"))
    # Ground truths kept in memory between submissions (one per task).
    ground_truth_cache_tasks: int = Field(default=4, ge=1)
    # How hosts' scoring programs are isolated: bubblewrap (no network, read-only inputs, nothing else of the
    # machine), or the WEAKER rlimits-only fallback for a machine without it (a host's own, never a shared one).
    program_isolation: Literal["bubblewrap", "rlimits-only"] = "bubblewrap"
    # Which CPU tasks this process scores (`cpu_scorer.roles`): all of them, or with the Helm chart's program pool
    # beside it, `programs` (the pool: tasks a host's program scores) or `metrics` (every other one). Read from
    # PODIUM_CPU_SCORER_ROLE only (never a bare PODIUM_ROLE), so it is set by that name in code too.
    role: Role = Field(default="all", alias="PODIUM_CPU_SCORER_ROLE")


@dataclass(frozen=True)
class Deps:
    competition: CurrentCompetition
    bus: Bus
    s3: Minio
    ground_truth: GroundTruthCache[dict[str, np.ndarray]]
    solutions: GroundTruthCache[Solution]
    masks: GroundTruthCache[Masks]
    detections: GroundTruthCache[CocoTruth]
    jobs: JobReporter
    programs: ProgramPool
    program_files: ProgramFiles


@asynccontextmanager
async def program_pool(settings: CpuScorerSettings) -> AsyncIterator[tuple[ProgramPool, Path]]:
    """The warm pool of hosts' programs and its working folder (workers, programs and ground truths by digest, the
    current jobs' submissions), under a temporary folder removed at stop with every worker."""
    folder = Path(tempfile.mkdtemp(prefix="podium-programs-"))
    try:
        pool = ProgramPool(SandboxConfig(isolation=Isolation(settings.program_isolation)), folder / "workers")
        try:
            yield pool, folder / "files"
        finally:
            await asyncio.to_thread(pool.close)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@asynccontextmanager
async def bootstrap(settings: CpuScorerSettings, bus: Bus) -> AsyncIterator[Deps]:
    await connect_bus(bus, settings)
    s3 = await open_object_store(settings, BUCKETS)
    tasks = settings.ground_truth_cache_tasks
    async with (follow_competition(bus) as competition, open_job_reporter(NAME, bus, CONSUMERS[settings.role]) as jobs,
                program_pool(settings) as (programs, files)):
        yield Deps(competition=competition, bus=bus, s3=s3, ground_truth=GroundTruthCache(s3, parse_arrays, tasks),
                   solutions=GroundTruthCache(s3, parse_solution, tasks),
                   masks=GroundTruthCache(s3, parse_masks, tasks), detections=GroundTruthCache(s3, parse_coco, tasks),
                   jobs=jobs, programs=programs, program_files=ProgramFiles(s3, files, programs))
