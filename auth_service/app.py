"""Composition root of auth_service: settings → connections → subscribers → lifespan.

Its domain handlers arrive with their issue; until then it runs the platform's common parts.
"""

from __future__ import annotations

from faststream.asgi import AsgiFastStream
from pydantic import AliasChoices, Field

from podium_runtime.service import ServiceSpec, create_service_app
from podium_runtime.settings import ServiceSettings


class AuthServiceSettings(ServiceSettings):
    service_name: str = "auth_service"
    http_port: int = Field(default=8101, validation_alias=AliasChoices("PODIUM_AUTH_SERVICE_HTTP_PORT"))


SPEC = ServiceSpec(
    name="auth_service",
    schema="auth",
    package="auth_service",
)


def create_app(settings: AuthServiceSettings) -> AsgiFastStream:
    return create_service_app(SPEC, settings)
