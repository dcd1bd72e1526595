"""A deployment does not keep the local development defaults: outside development, the S3 client refuses the
shared local secret (every service that uses S3 builds its client at start, so it refuses to start)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from podium_runtime.connections import UnsafeSettings, create_s3
from podium_runtime.settings import LOCAL_S3_SECRET, PlatformSettings


def test_production_refuses_the_local_s3_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PODIUM_ENVIRONMENT", raising=False)
    monkeypatch.delenv("PODIUM_S3_SECRET_KEY", raising=False)
    settings = PlatformSettings()
    assert settings.environment == "production"
    with pytest.raises(UnsafeSettings, match="PODIUM_S3_SECRET_KEY"):
        create_s3(settings)


def test_production_takes_its_own_secret_and_development_the_local_one() -> None:
    assert create_s3(PlatformSettings(environment="production", s3_secret_key=SecretStr("a-real-secret-9f2c")))
    assert create_s3(PlatformSettings(environment="development", s3_secret_key=SecretStr(LOCAL_S3_SECRET)))
