"""Entry point of the `podium` command (filled in by the CLI work)."""

from __future__ import annotations

import click


@click.group()
def cli() -> None:
    """Podium: submit, watch the leaderboard, run a competition."""
