"""`python -m auth_service`: build the app from the environment and serve it."""

from auth_service.app import AuthServiceSettings, create_app
from podium_runtime.main import serve

settings = AuthServiceSettings()
serve(create_app(settings), settings)
