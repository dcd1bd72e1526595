"""`python -m submission_service`: build the app from the environment and serve it."""

from submission_service.app import SubmissionServiceSettings, create_app
from podium_runtime.main import serve

settings = SubmissionServiceSettings()
serve(create_app(settings), settings)
