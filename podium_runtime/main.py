"""Running a service process: JSON logs and tracing, then the ASGI app under uvicorn (which turns
SIGINT/SIGTERM into a graceful shutdown: the lifespan closes connections and the outbox relay stops between
batches); the last spans are flushed on the way out. The gateway may run several such processes behind one port
(`podium_runtime.workers`)."""

from __future__ import annotations

from typing import Any

import uvicorn

from podium_runtime.logging import configure_logging
from podium_runtime.processes import freeze_startup_heap
from podium_runtime.settings import ServiceSettings
from podium_runtime.telemetry import configure_tracing

# The largest WebSocket frame a client may send (the gateway's /ws takes short follow lists only).
WS_MAX_FRAME_BYTES = 64 * 1024


def server_options(settings: ServiceSettings) -> dict[str, Any]:
    """uvicorn's options for a service, whether it runs as one process or as several (`podium_runtime.workers`)."""
    return {
        "host": settings.http_host,
        "port": settings.http_port,
        "log_config": None,
        "access_log": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
        # X-Forwarded-For is believed only from the proxies the deployment names: otherwise any client
        # (or anything on the same machine) could claim an address, and a fresh rate-limit bucket with it.
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": settings.trusted_proxies or None,
        "ws_max_size": WS_MAX_FRAME_BYTES,
        "ws_per_message_deflate": settings.ws_compression,
    }


def serve(app: Any, settings: ServiceSettings) -> None:
    configure_logging(settings.service_name, settings.log_level)
    tracing = configure_tracing(settings.service_name, settings.traces_exporter)
    freeze_startup_heap()
    try:
        uvicorn.run(app, **server_options(settings))
    finally:
        if tracing is not None:
            tracing.shutdown()
