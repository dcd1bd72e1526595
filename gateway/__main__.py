"""`python -m gateway`: build the app from the environment and serve it."""

from gateway.app import GatewaySettings, create_app
from podium_runtime.main import serve

settings = GatewaySettings()
serve(create_app(settings), settings)
