"""`python -m leaderboard_service`: serve; `python -m leaderboard_service rebuild`: replay the streams into an
empty projection and republish every board of the competition in use (the `competition` KV bucket's)."""

from __future__ import annotations

import asyncio

import click

from leaderboard_service.app import create_app, create_handlers
from leaderboard_service.bootstrap import NAME, LeaderboardServiceSettings, bootstrap
from leaderboard_service.rebuild import HistoryLost, rebuild
from podium_runtime.main import serve
from podium_runtime.service import command_bus


@click.group(invoke_without_command=True)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Podium's leaderboard service. Without a command, serve it."""
    if ctx.invoked_subcommand is None:
        settings = LeaderboardServiceSettings()
        serve(create_app(settings), settings)


async def _rebuild(settings: LeaderboardServiceSettings, accept_lost_history: bool) -> str:
    async with command_bus(NAME, settings) as bus, bootstrap(settings, bus, pool_size=2) as deps:
        if deps.competition.version.version == 0:
            # Without the tasks, completed rescores could not be switched on again: the boards would change.
            raise click.ClickException("the `competition` bucket holds no competition yet (submission_service "
                                       "writes it at its start); nothing was rebuilt")
        report = await rebuild(deps.pool, bus.jetstream(), deps.competition.current,
                               accept_lost_history=accept_lost_history)
        await create_handlers(deps).publish_all()
    summary = f"rebuilt from {report.events} events ({report.scores} scores) in {report.seconds:.2f} s"
    if report.skipped:
        shown = "; ".join(f"{s.stream} #{s.seq} ({s.event}): {s.reason}" for s in report.skipped[:10])
        more = f"; {len(report.skipped) - 10} more in the log" if len(report.skipped) > 10 else ""
        summary += f"\nskipped {len(report.skipped)} malformed events: {shown}{more}"
    return summary


@main.command("rebuild")
@click.option("--accept-lost-history", is_flag=True,
              help="Rebuild even though JetStream's store was wiped and the streams lack older events.")
def rebuild_command(accept_lost_history: bool) -> None:
    """Drop the projection, replay SCORES, TEAMS and BOARD from the start, republish the boards."""
    try:
        click.echo(asyncio.run(_rebuild(LeaderboardServiceSettings(), accept_lost_history)))
    except HistoryLost as exc:
        raise click.ClickException(str(exc)) from exc


if __name__ == "__main__":
    main()
