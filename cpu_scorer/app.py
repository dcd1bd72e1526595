"""Composition root of cpu_scorer: settings → connections → subscribers → lifespan.

Its domain handlers arrive with their issue; until then it runs the platform's common parts.
"""

from __future__ import annotations

from faststream.asgi import AsgiFastStream
from pydantic import AliasChoices, Field

from podium_runtime.service import ServiceSpec, create_service_app
from podium_runtime.settings import ServiceSettings


class CpuScorerSettings(ServiceSettings):
    service_name: str = "cpu_scorer"
    http_port: int = Field(default=8103, validation_alias=AliasChoices("PODIUM_CPU_SCORER_HTTP_PORT"))


SPEC = ServiceSpec(
    name="cpu_scorer",
    uses_s3=True,
)


def create_app(settings: CpuScorerSettings) -> AsgiFastStream:
    return create_service_app(SPEC, settings)
