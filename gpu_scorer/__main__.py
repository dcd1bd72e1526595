"""`python -m gpu_scorer`: build the app from the environment and serve it."""

from gpu_scorer.app import GpuScorerSettings, create_app
from podium_runtime.main import serve

settings = GpuScorerSettings()
serve(create_app(settings), settings)
