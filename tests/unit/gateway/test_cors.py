"""CORS: none in production unless origins are configured; any origin only in development."""

from __future__ import annotations

from gateway.app import GatewaySettings, cors_config


def test_production_without_origins_sends_no_cors_headers() -> None:
    assert cors_config(GatewaySettings(environment="production")) is None


def test_configured_origins_are_the_only_ones_allowed() -> None:
    config = cors_config(GatewaySettings(environment="production", cors_allow_origins=["https://podium.example.org"]))
    assert config is not None
    assert config.allow_origins == ["https://podium.example.org"] and config.allow_credentials


def test_development_allows_any_origin_without_credentials() -> None:
    config = cors_config(GatewaySettings(environment="development"))
    assert config is not None and config.allow_origins == ["*"] and not config.allow_credentials
