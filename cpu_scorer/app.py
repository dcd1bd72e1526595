"""Composition root of cpu_scorer: settings → Deps (`cpu_scorer.bootstrap`) → the scorer of the tasks its role takes
→ its role's durable consumer of CPU submissions (`cpu_scorer.roles`) → lifespan
(`podium_runtime.scoring.kit.create_scorer_app`)."""

from __future__ import annotations

from faststream.asgi import AsgiFastStream

from cpu_scorer.bootstrap import NAME, CpuScorerSettings, Deps, bootstrap
from cpu_scorer.handlers import CpuScorer
from cpu_scorer.programs import ProgramScoring
from cpu_scorer.roles import CONSUMERS, TAKES
from podium_runtime.scoring.archive import ArchiveLimits
from podium_runtime.scoring.kit import TakesTask, create_scorer_app, scorer_wired
from podium_runtime.service import Wired

__all__ = ["CpuScorerSettings", "create_app", "wire"]


def wire(deps: Deps, takes: TakesTask) -> Wired:
    return scorer_wired(CpuScorer(competition=deps.competition, limits=ArchiveLimits(), broker=deps.bus.broker,
                                  s3=deps.s3, ground_truth=deps.ground_truth, solutions=deps.solutions,
                                  masks=deps.masks, detections=deps.detections, jobs=deps.jobs,
                                  programs=ProgramScoring(deps.programs, deps.program_files, deps.jobs),
                                  takes=takes))


def create_app(settings: CpuScorerSettings, deps: Deps | None = None) -> AsgiFastStream:
    """The scorer of the CPU tasks its role takes, on its role's durable consumer (`cpu_scorer.roles`)."""
    return create_scorer_app(NAME, CONSUMERS[settings.role], settings, bootstrap,
                             lambda deps: wire(deps, TAKES[settings.role]), deps)
