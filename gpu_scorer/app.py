"""Composition root of gpu_scorer: settings → connections → subscribers → lifespan.

Its domain handlers arrive with their issue; until then it runs the platform's common parts.
"""

from __future__ import annotations

from faststream.asgi import AsgiFastStream
from pydantic import AliasChoices, Field

from podium_runtime.service import ServiceSpec, create_service_app
from podium_runtime.settings import ServiceSettings


class GpuScorerSettings(ServiceSettings):
    service_name: str = "gpu_scorer"
    http_port: int = Field(default=8104, validation_alias=AliasChoices("PODIUM_GPU_SCORER_HTTP_PORT"))


SPEC = ServiceSpec(
    name="gpu_scorer",
    uses_s3=True,
)


def create_app(settings: GpuScorerSettings) -> AsgiFastStream:
    return create_service_app(SPEC, settings)
