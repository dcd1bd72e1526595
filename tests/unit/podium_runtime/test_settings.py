"""Settings come from PODIUM_* variables, default to the embedded stack, and keep each service's HTTP
port apart even when all services share one environment."""

from __future__ import annotations

import pytest

from auth_service.app import AuthServiceSettings
from cpu_scorer.app import CpuScorerSettings
from gateway.app import GatewaySettings
from podium_runtime.settings import DEFAULT_NATS_PORT, PlatformSettings


def test_defaults_point_at_the_embedded_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PODIUM_NATS_URL", "PODIUM_POSTGRES_DSN", "PODIUM_S3_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    settings = PlatformSettings()
    assert settings.nats_url == f"nats://127.0.0.1:{DEFAULT_NATS_PORT}"
    assert settings.postgres_dsn.get_secret_value().startswith("postgresql://postgres@127.0.0.1:")
    assert settings.s3_endpoint.startswith("127.0.0.1:")


def test_external_servers_are_a_matter_of_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_NATS_URL", "nats://nats-0.nats:4222,nats://nats-1.nats:4222")
    monkeypatch.setenv("PODIUM_POSTGRES_DSN", "postgresql://podium:pw@db.internal:5432/podium")
    monkeypatch.setenv("PODIUM_S3_ENDPOINT", "minio.internal:9000")
    monkeypatch.setenv("PODIUM_S3_SECURE", "true")
    monkeypatch.setenv("PODIUM_STREAM_REPLICAS", "3")
    settings = CpuScorerSettings()
    assert settings.nats_url.startswith("nats://nats-0.nats:4222")
    assert settings.postgres_dsn.get_secret_value() == "postgresql://podium:pw@db.internal:5432/podium"
    assert (settings.s3_endpoint, settings.s3_secure, settings.stream_replicas) == ("minio.internal:9000", True, 3)
    assert "pw" not in repr(settings)  # secrets stay out of logs


def test_each_service_reads_its_own_port_from_a_shared_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_GATEWAY_HTTP_PORT", "9000")
    monkeypatch.setenv("PODIUM_AUTH_SERVICE_HTTP_PORT", "9101")
    assert GatewaySettings().http_port == 9000
    assert AuthServiceSettings().http_port == 9101
    assert CpuScorerSettings().http_port == 8103


def test_a_nats_cluster_is_several_comma_separated_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_NATS_URL", "nats://n1:4222, nats://n2:4222,nats://n3:4222")
    assert PlatformSettings().nats_servers == ["nats://n1:4222", "nats://n2:4222", "nats://n3:4222"]
    monkeypatch.setenv("PODIUM_NATS_URL", "nats://one:4222")
    assert PlatformSettings().nats_servers == ["nats://one:4222"]
