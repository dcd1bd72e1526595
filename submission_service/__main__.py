"""`python -m submission_service`: serve; `python -m submission_service rescore --task T`: rescore a task (as
an admin on this host) and follow it until the board switches, printing who moved."""

from __future__ import annotations

import asyncio
from datetime import datetime

import click
import nats

from podium_runtime.main import serve
from podium_runtime.rpc import call
from proto import leaderboard as board_ops
from proto import submissions as ops
from proto.rpc import Principal, ServiceError
from submission_service.app import create_app
from submission_service.bootstrap import SubmissionServiceSettings

OPERATOR = Principal(account_id="0", name="cli", role="admin")


@click.group(invoke_without_command=True)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Podium's submission service. Without a command, serve it."""
    if ctx.invoked_subcommand is None:
        settings = SubmissionServiceSettings()
        serve(create_app(settings), settings)


async def _rescore(settings: SubmissionServiceSettings, request: ops.RescoreScope, wait_s: float) -> int:
    client = await nats.connect(settings.nats_servers, **settings.nats_auth)
    try:
        started = await call(client, ops.START_RESCORE, request, 30, OPERATOR)
        if isinstance(started, ServiceError):
            click.echo(f"refused ({started.status}): {started.detail}", err=True)
            return 1
        click.echo(f"rescore {started.rescore_id}: {started.submissions} submissions of {started.task_id} "
                   f"under {started.scorer_version}")
        deadline = asyncio.get_running_loop().time() + wait_s
        while asyncio.get_running_loop().time() < deadline:
            report = await call(client, board_ops.RESCORE_STATUS,
                                board_ops.RescoreStatus(rescore_id=started.rescore_id), 10, OPERATOR)
            if isinstance(report, board_ops.RescoreReport):
                click.echo(f"  {report.done}/{report.expected} scored")
                if report.completed:
                    for move in report.movements:
                        click.echo(f"  {move.team_name:30s} rank {move.old_rank} → {move.new_rank}   "
                                   f"score {move.old_score} → {move.new_score}")
                    return 0
            await asyncio.sleep(1)
        click.echo("still running; follow it at GET /api/v1/admin/rescores/" + started.rescore_id)
        return 0
    finally:
        await client.close()


@main.command("rescore")
@click.option("--task", "task_id", required=True)
@click.option("--version", "scorer_version", default="", help="the new scorer version (default: derived)")
@click.option("--after", "submitted_after", type=click.DateTime(), default=None)
@click.option("--before", "submitted_before", type=click.DateTime(), default=None)
@click.option("--id", "submission_ids", type=int, multiple=True, help="only these submissions (repeatable)")
@click.option("--wait", "wait_s", type=float, default=600.0, help="seconds to follow the rescore")
def rescore_command(task_id: str, scorer_version: str, submitted_after: datetime | None,
                    submitted_before: datetime | None, submission_ids: tuple[int, ...], wait_s: float) -> None:
    """Publish the matching submissions again under a new scorer version and print who moved."""
    request = ops.RescoreScope(task_id=task_id, scorer_version=scorer_version, submitted_after=submitted_after,
                               submitted_before=submitted_before, submission_ids=list(submission_ids))
    raise SystemExit(asyncio.run(_rescore(SubmissionServiceSettings(), request, wait_s)))


if __name__ == "__main__":
    main()
