"""Composition root of gpu_scorer: settings → Deps (`gpu_scorer.bootstrap`: connections, engine) → the scorer →
the durable consumer of model submissions → lifespan (`podium_runtime.scoring.kit.create_scorer_app`)."""

from __future__ import annotations

from faststream.asgi import AsgiFastStream

from gpu_scorer.bootstrap import NAME, Deps, GpuScorerSettings, bootstrap
from gpu_scorer.handlers import GpuScorer
from podium_runtime.scoring.kit import create_scorer_app, scorer_wired
from podium_runtime.service import Wired
from proto.streams import GPU_SCORER

__all__ = ["GpuScorerSettings", "create_app", "wire"]


def wire(deps: Deps) -> Wired:
    return scorer_wired(GpuScorer(competition=deps.competition, broker=deps.bus.broker, s3=deps.s3, engine=deps.engine,
                                  test_sets=deps.test_sets, jobs=deps.jobs))


def create_app(settings: GpuScorerSettings, deps: Deps | None = None) -> AsgiFastStream:
    return create_scorer_app(NAME, GPU_SCORER, settings, bootstrap, wire, deps)
