"""`python -m leaderboard_service`: build the app from the environment and serve it."""

from leaderboard_service.app import LeaderboardServiceSettings, create_app
from podium_runtime.main import serve

settings = LeaderboardServiceSettings()
serve(create_app(settings), settings)
