"""`python -m leaderboard_service`: serve; `python -m leaderboard_service rebuild`: replay the streams into an
empty projection and republish every board."""

from __future__ import annotations

import asyncio

import click
import nats
from faststream.nats import NatsBroker

from leaderboard_service import projection
from leaderboard_service.app import LeaderboardServiceSettings, create_app, create_handlers
from leaderboard_service.rebuild import HistoryLost, rebuild
from podium_runtime import nats_access
from podium_runtime.connections import create_pg_pool, ensure_kv_buckets, ensure_streams
from podium_runtime.main import serve
from podium_runtime.migrations import apply_migrations, service_migrations
from proto.streams import LEADERBOARDS


@click.group(invoke_without_command=True)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Podium's leaderboard service. Without a command, serve it."""
    if ctx.invoked_subcommand is None:
        settings = LeaderboardServiceSettings()
        serve(create_app(settings), settings)


async def _rebuild(settings: LeaderboardServiceSettings, accept_lost_history: bool) -> str:
    handlers = create_handlers(settings)
    client = await nats.connect(settings.nats_servers, **settings.nats_auth)
    pool = await create_pg_pool(settings, max_size=2)
    try:
        js = client.jetstream()
        await ensure_streams(js, settings.stream_replicas, nats_access.streams_owned("leaderboard_service"))
        await ensure_kv_buckets(js, settings.stream_replicas, nats_access.buckets("leaderboard_service"))
        async with pool.acquire() as conn:
            await apply_migrations(conn, projection.SCHEMA, service_migrations("leaderboard_service"))
        report = await rebuild(pool, js, handlers.competition, accept_lost_history=accept_lost_history)
        broker = NatsBroker(settings.nats_servers, serializer=None, **settings.nats_broker_options())
        await broker.connect()
        handlers.pool, handlers.broker, handlers.boards = pool, broker, await js.key_value(LEADERBOARDS.name)
        await handlers.publish_all()
        await broker.stop()
        summary = f"rebuilt from {report.events} events ({report.scores} scores) in {report.seconds:.2f} s"
        if report.skipped:
            shown = "; ".join(f"{s.stream} #{s.seq} ({s.event}): {s.reason}" for s in report.skipped[:10])
            more = f"; {len(report.skipped) - 10} more in the log" if len(report.skipped) > 10 else ""
            summary += f"\nskipped {len(report.skipped)} malformed events: {shown}{more}"
        return summary
    finally:
        await pool.close()
        await client.close()


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
