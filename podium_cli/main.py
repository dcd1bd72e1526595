"""Entry point of the `podium` command (installed by the project: `[project.scripts] podium`).

Participants log in, submit and watch their score arrive, and follow the leaderboard; admins run the
competition (`podium admin …`); developers run the platform locally (`podium up`) and seed it (`podium demo`).
Every command but `up`, `demo` and `admin rebuild-board` talks only to the gateway's public API.
"""

from __future__ import annotations

from pathlib import Path

import click

from podium_cli import dev, hosting, participant
from podium_cli.admin import admin
from podium_cli.client import DEFAULT_TIMEOUT_S, DEFAULT_URL
from podium_cli.credentials import default_config_dir
from podium_cli.session import Session


def _http_url(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise click.BadParameter(f"{value!r} is not an http:// or https:// URL (e.g. {DEFAULT_URL})")
    return value.rstrip("/")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--url", envvar="PODIUM_URL", default=DEFAULT_URL, show_default=True, metavar="URL", callback=_http_url,
              help="The Podium to talk to (its gateway). [env: PODIUM_URL]")
@click.option("--config-dir", envvar="PODIUM_CONFIG_DIR", type=click.Path(path_type=Path, file_okay=False),
              help="Where the login is kept (credentials.json). [env: PODIUM_CONFIG_DIR; default: "
                   "~/.config/podium]")
@click.option("--token", envvar="PODIUM_TOKEN", metavar="TOKEN",
              help="Use this access token instead of the stored login (scripts, CI). [env: PODIUM_TOKEN]")
@click.option("--http-timeout", "timeout_s", envvar="PODIUM_HTTP_TIMEOUT", type=click.FloatRange(min=1),
              default=DEFAULT_TIMEOUT_S, show_default=True, metavar="SECONDS",
              help="How long to wait for each answer of the API. [env: PODIUM_HTTP_TIMEOUT]")
@click.version_option(package_name="podium", prog_name="podium")
@click.pass_context
def cli(ctx: click.Context, url: str, config_dir: Path | None, token: str | None, timeout_s: float) -> None:
    """Podium: submit, watch the leaderboard, run a competition.

    \b
    Participants:  podium login; podium tasks; podium submit TASK FILE; podium submissions;
                   podium leaderboard TASK [--watch]; podium ask TITLE; podium questions
    Admins:        podium admin --help
    Developers:    podium up (the whole platform here); podium demo (teams and scores on it)
    """
    session = Session(url=url, config_dir=config_dir or default_config_dir(), token=token,
                      timeout_s=timeout_s)
    ctx.obj = session
    ctx.call_on_close(session.close)


for command in participant.COMMANDS:
    cli.add_command(command)
admin.add_command(hosting.competition)
admin.add_command(hosting.ground_truth)
admin.add_command(hosting.program)
cli.add_command(admin)
cli.add_command(dev.up)
cli.add_command(dev.demo)
