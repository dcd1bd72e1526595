"""`python -m gateway`: build the app from the environment and serve it, as one process or as
PODIUM_GATEWAY_WORKERS processes on one port (`podium_runtime.workers`)."""

from gateway.app import GatewaySettings, create_app
from podium_runtime.main import serve
from podium_runtime.workers import serve_workers

# Guarded: each worker's fresh interpreter imports this module again (as `__mp_main__`), and must not serve.
if __name__ == "__main__":
    settings = GatewaySettings()
    if settings.workers > 1:
        serve_workers(create_app, settings, settings.workers)
    else:
        serve(create_app(settings), settings)
