"""Running `podium …` in-process against one platform, as the CLI tests do."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result

from podium_cli.main import cli


@dataclass(frozen=True)
class Cli:
    """`podium …` against one platform with one credentials folder; runs off the event loop (CliRunner blocks)."""

    url: str
    config_dir: Path

    @property
    def env(self) -> dict[str, str | None]:
        # A wide console, so rich never wraps a team name inside a table cell; no token but the stored login's.
        return {"PODIUM_URL": self.url, "PODIUM_CONFIG_DIR": str(self.config_dir), "COLUMNS": "200",
                "PODIUM_TOKEN": None}

    async def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        result = await asyncio.to_thread(CliRunner().invoke, cli, list(args), input=input,
                                         env={**self.env, **(env or {})})
        # Every outcome, good or bad, is an exit status and a message: never an unexpected exception.
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert "Traceback" not in result.output, result.output
        return result


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def flat(text: str) -> str:
    """Output with runs of whitespace made one space (messages may wrap at the console's width)."""
    return " ".join(text.split())


@dataclass(frozen=True)
class Team:
    id: int
    name: str
    password: str
    cli: Cli


