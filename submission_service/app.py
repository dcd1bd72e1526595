"""Composition root of submission_service: settings → connections → subscribers → lifespan.

Its domain handlers arrive with their issue; until then it runs the platform's common parts.
"""

from __future__ import annotations

from faststream.asgi import AsgiFastStream
from pydantic import AliasChoices, Field

from podium_runtime.service import ServiceSpec, create_service_app
from podium_runtime.settings import ServiceSettings


class SubmissionServiceSettings(ServiceSettings):
    service_name: str = "submission_service"
    http_port: int = Field(default=8102, validation_alias=AliasChoices("PODIUM_SUBMISSION_SERVICE_HTTP_PORT"))


SPEC = ServiceSpec(
    name="submission_service",
    schema="submissions",
    package="submission_service",
    uses_s3=True,
    buckets=('submissions',),
)


def create_app(settings: SubmissionServiceSettings) -> AsgiFastStream:
    return create_service_app(SPEC, settings)
