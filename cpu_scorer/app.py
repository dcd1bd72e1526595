"""Composition root of cpu_scorer: settings → Deps (`cpu_scorer.bootstrap`) → the scorer → the durable consumer
of CPU submissions → lifespan (`podium_runtime.scoring.kit.create_scorer_app`)."""

from __future__ import annotations

from faststream.asgi import AsgiFastStream

from cpu_scorer.bootstrap import NAME, CpuScorerSettings, Deps, bootstrap
from cpu_scorer.handlers import CpuScorer
from cpu_scorer.programs import ProgramScoring
from podium_runtime.scoring.archive import ArchiveLimits
from podium_runtime.scoring.kit import create_scorer_app, scorer_wired
from podium_runtime.service import Wired
from proto.streams import CPU_SCORER

__all__ = ["CpuScorerSettings", "create_app", "wire"]


def wire(deps: Deps) -> Wired:
    return scorer_wired(CpuScorer(competition=deps.competition, limits=ArchiveLimits(), broker=deps.bus.broker,
                                  s3=deps.s3, ground_truth=deps.ground_truth, solutions=deps.solutions,
                                  masks=deps.masks, detections=deps.detections, jobs=deps.jobs,
                                  programs=ProgramScoring(deps.programs, deps.program_files, deps.jobs)))


def create_app(settings: CpuScorerSettings, deps: Deps | None = None) -> AsgiFastStream:
    return create_scorer_app(NAME, CPU_SCORER, settings, bootstrap, wire, deps)
