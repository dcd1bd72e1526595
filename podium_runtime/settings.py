"""Typed settings read from `PODIUM_*` environment variables.

Defaults point at the embedded local stack (`make run`); pointing a service at an external NATS cluster,
Postgres or S3/MinIO is only a matter of setting these variables.
"""

from __future__ import annotations

from typing import Any, Literal

from faststream.security import SASLPlaintext
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from podium_runtime.nats_access import inbox_prefix

# Ports of the embedded stack when started by `make run` (chosen away from the usual ones so a system
# Postgres or MinIO on the same machine does not collide).
DEFAULT_NATS_PORT = 4222
DEFAULT_NATS_MONITOR_PORT = 8222
DEFAULT_POSTGRES_PORT = 5433
DEFAULT_S3_PORT = 8333


LOCAL_S3_SECRET = "podium-local-secret"


class PlatformSettings(BaseSettings):
    """Connection settings shared by every service."""

    model_config = SettingsConfigDict(env_prefix="PODIUM_", extra="ignore")

    # "development" (what `make run` sets) allows the local defaults: the S3 secret below and, on the gateway,
    # any CORS origin. A deployment is production unless told otherwise.
    environment: Literal["development", "production"] = "production"

    # One URL, or several comma-separated (the servers of a NATS cluster: the client fails over between them).
    nats_url: str = f"nats://127.0.0.1:{DEFAULT_NATS_PORT}"
    # This process's own NATS user (each service has one, with only the permissions it needs: see
    # podium_runtime.nats_access); empty: connect without credentials (a server without authorization).
    nats_user: str = ""
    nats_password: SecretStr = SecretStr("")
    postgres_dsn: SecretStr = SecretStr(f"postgresql://postgres@127.0.0.1:{DEFAULT_POSTGRES_PORT}/podium")
    postgres_pool_max: int = 10
    s3_endpoint: str = f"127.0.0.1:{DEFAULT_S3_PORT}"
    s3_access_key: str = "podium"
    # Good for a development machine only: outside development a service refuses to start with it (create_s3).
    s3_secret_key: SecretStr = SecretStr(LOCAL_S3_SECRET)
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    # Replicas for the JetStream streams this service declares (3 on a NATS cluster).
    stream_replicas: int = 1
    log_level: str = "INFO"

    @property
    def nats_servers(self) -> list[str]:
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]

    @property
    def nats_auth(self) -> dict[str, str]:
        """nats-py's `connect` keywords for this process's credentials and its own inbox prefix, the only one its
        user may subscribe to (none of them when no user is set)."""
        if not self.nats_user:
            return {}
        return {"user": self.nats_user, "password": self.nats_password.get_secret_value(),
                "inbox_prefix": inbox_prefix(self.nats_user)}

    def nats_broker_options(self) -> dict[str, Any]:
        """The same for FastStream's NatsBroker (`security=`, `inbox_prefix=`)."""
        auth = self.nats_auth
        if not auth:
            return {}
        return {"security": SASLPlaintext(username=auth["user"], password=auth["password"]),
                "inbox_prefix": auth["inbox_prefix"]}
    # Where spans go: "otlp" (to OTEL_EXPORTER_OTLP_ENDPOINT), "console" (stderr) or "none".
    traces_exporter: Literal["none", "console", "otlp"] = "none"
    # How often a service refreshes its gauges (consumer lag, outbox backlog, unfinished submissions).
    metrics_interval_s: float = Field(default=15.0, gt=0)
    http_host: str = "127.0.0.1"


class ServiceSettings(PlatformSettings):
    """One service's settings: the platform's plus its own HTTP port for health and metrics.

    Each service subclasses this with its own `http_port` default and env alias, so that one shared
    environment (e.g. a `.env` for all services) does not give two services the same port.
    """

    service_name: str = "podium"
    http_port: int = 8100
    # Addresses or networks of the reverse proxies whose X-Forwarded-For/-Proto are believed (comma-separated,
    # e.g. "10.0.0.0/8"); empty: none, the peer's own address is the client's.
    trusted_proxies: str = ""
    # permessage-deflate on WebSockets (the gateway's /ws): off by default. Each socket compresses on its own, in the
    # event loop, so a connection storm's first whole boards (1,000 viewers × the board) cost the loop seconds and
    # every API request waits behind them (`make load`'s storm step); on trades that CPU for bandwidth.
    ws_compression: bool = False
    # How often the outbox relay looks for unpublished rows when no NOTIFY woke it.
    outbox_poll_s: float = Field(default=1.0, gt=0)
