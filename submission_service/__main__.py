"""`python -m submission_service`: build the app from the environment and serve it."""

from podium_runtime.main import serve
from submission_service.app import SubmissionServiceSettings, create_app

settings = SubmissionServiceSettings()
serve(create_app(settings), settings)
