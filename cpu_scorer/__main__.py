"""`python -m cpu_scorer`: build the app from the environment and serve it."""

from cpu_scorer.app import CpuScorerSettings, create_app
from podium_runtime.main import serve

settings = CpuScorerSettings()
serve(create_app(settings), settings)
