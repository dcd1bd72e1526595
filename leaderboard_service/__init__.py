"""Materializes rankings per task from score and team events. Owns schema `leaderboard`."""
