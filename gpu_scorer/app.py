"""Composition root of gpu_scorer: settings → Deps (`gpu_scorer.bootstrap`: connections, engine) → the scorer →
the durable consumer of model submissions → lifespan."""

from __future__ import annotations

from faststream.asgi import AsgiFastStream

from gpu_scorer.bootstrap import NAME, Deps, GpuScorerSettings, bootstrap
from gpu_scorer.handlers import GpuScorer, create_router
from podium_runtime.service import ServiceSpec, Wired, Wiring, create_bus, create_service_app
from proto.events import JobLogged, ScoreComputed, ScoreFailed, ScoreProgress
from proto.streams import GPU_SCORER

__all__ = ["GpuScorerSettings", "create_app", "wire"]


def wire(deps: Deps) -> Wired:
    scorer = GpuScorer(competition=deps.competition, broker=deps.bus.broker, s3=deps.s3, engine=deps.engine,
                       test_sets=deps.test_sets, jobs=deps.jobs)
    return Wired(context={"scorer": scorer}, s3=deps.s3)


def create_app(settings: GpuScorerSettings, deps: Deps | None = None) -> AsgiFastStream:
    spec = ServiceSpec(
        name=NAME, routers=(create_router(),),
        publishes=(ScoreComputed, ScoreFailed, ScoreProgress, JobLogged), consumers=(GPU_SCORER,),
    )
    bus = deps.bus if deps is not None else create_bus(NAME, settings)
    return create_service_app(spec, settings, Wiring(
        bus=bus, bootstrap=lambda bus: bootstrap(settings, bus), wire=wire, deps=deps))
