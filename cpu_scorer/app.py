"""Composition root of cpu_scorer: settings → Deps (`cpu_scorer.bootstrap`) → the scorer → the durable consumer
of CPU submissions → lifespan."""

from __future__ import annotations

from faststream.asgi import AsgiFastStream

from cpu_scorer.bootstrap import NAME, CpuScorerSettings, Deps, bootstrap
from cpu_scorer.handlers import CpuScorer, create_router
from podium_runtime.scoring.archive import ArchiveLimits
from podium_runtime.service import ServiceSpec, Wired, Wiring, create_bus, create_service_app
from proto.events import JobLogged, ScoreComputed, ScoreFailed, ScoreProgress
from proto.streams import CPU_SCORER

__all__ = ["CpuScorerSettings", "create_app", "wire"]


def wire(deps: Deps) -> Wired:
    scorer = CpuScorer(competition=deps.competition, limits=ArchiveLimits(), broker=deps.bus.broker, s3=deps.s3,
                       ground_truth=deps.ground_truth, jobs=deps.jobs)
    return Wired(context={"scorer": scorer}, s3=deps.s3)


def create_app(settings: CpuScorerSettings, deps: Deps | None = None) -> AsgiFastStream:
    spec = ServiceSpec(
        name=NAME, routers=(create_router(),),
        publishes=(ScoreComputed, ScoreFailed, ScoreProgress, JobLogged), consumers=(CPU_SCORER,),
    )
    bus = deps.bus if deps is not None else create_bus(NAME, settings)
    return create_service_app(spec, settings, Wiring(
        bus=bus, bootstrap=lambda bus: bootstrap(settings, bus), wire=wire, deps=deps))
