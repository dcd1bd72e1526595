"""The hosts' commands (`podium admin …`): create and import teams, hide or disqualify, rescore and see who moved,
rebuild the boards, reveal the private board, export results, and the platform's counts. Log in as an admin first."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import click
import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from podium_cli import tables
from podium_cli.client import ApiError, PodiumClient
from podium_cli.participant import print_json
from podium_cli.session import Session, pass_session

# The gateway refuses larger team CSVs (auth_service's MAX_TEAMS_CSV_BYTES); checked here before sending.
MAX_TEAMS_CSV_BYTES = 512 * 1024
# Hashing one password per row takes tens of milliseconds: a large import needs more than the usual timeout.
IMPORT_TIMEOUT_S = 150.0
RESCORE_POLL_S = 0.5
DATETIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z",
                    "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M"]


@click.group(short_help="Run the competition (admins).")
def admin() -> None:
    """Run the competition (needs an admin login: `podium login --name ADMIN`)."""


def _member(text: str) -> dict[str, str]:
    name, email = parseaddr(text)
    if email and "@" not in email:  # "Ada Lovelace" alone parses as an address; it is a name
        name, email = text.strip(), ""
    return {"name": name or text.strip(), "email": email}


def find_team(client: PodiumClient, team: str) -> dict[str, Any]:
    """A team by its id or its exact name."""
    if team.isdigit():
        return client.get(f"/api/v1/teams/{int(team)}")
    skip, page = 0, 300
    while True:
        found = client.get("/api/v1/admin/teams", params={"skip": skip, "limit": page})
        for candidate in found:
            if candidate["name"] == team:
                return candidate
        if len(found) < page:
            raise click.ClickException(f"no team named {team!r} (give its name exactly, or its id)")
        skip += page


@admin.command("teams", short_help="List every team and admin.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of a table.")
@pass_session
def list_teams(session: Session, as_json: bool) -> None:
    """List every team and admin."""
    found = session.client.get("/api/v1/admin/teams", params={"limit": 10_000})
    if as_json:
        print_json(found)
        return
    table = Table(title=f"{len(found)} accounts", title_justify="left")
    for column in ("id", "name", "role", "members", "max size", "disabled"):
        table.add_column(column)
    for team in found:
        members = "; ".join(m["name"] + (f" <{m['email']}>" if m.get("email") else "") for m in team["members"])
        table.add_row(str(team["id"]), Text(team["name"]), "admin" if team.get("is_admin") else "team",
                      Text(members), str(team.get("max_size", "")), "yes" if team.get("disabled") else "")
    session.console.print(table)


@admin.command("create-team", short_help="Create a team.")
@click.argument("name")
@click.option("--password", help="The team's password (prompted, hidden and confirmed, when missing).")
@click.option("--member", "members", multiple=True, metavar='"NAME <EMAIL>"',
              help="A member, by name or as `Name <email>`; repeat for each.")
@click.option("--max-size", type=click.IntRange(min=1), help="Members allowed (default: the platform's).")
@pass_session
def create_team(session: Session, name: str, password: str | None, members: tuple[str, ...],
                max_size: int | None) -> None:
    """Create the team NAME."""
    password = password or click.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
    body: dict[str, Any] = {"name": name, "password": password, "members": [_member(m) for m in members]}
    if max_size is not None:
        body["max_size"] = max_size
    team = session.client.post("/api/v1/admin/teams", json=body)
    session.console.print(Text(f"Created team #{team['id']} {team['name']}"
                               + (f" with {len(team['members'])} members" if team.get("members") else "")))


@admin.command("import-teams", short_help="Create teams from a CSV file.")
@click.argument("csv_file", metavar="TEAMS.CSV", type=click.Path(path_type=Path, dir_okay=False))
@pass_session
def import_teams(session: Session, csv_file: Path) -> None:
    """Create teams from a CSV file (UTF-8, with a header row):

    \b
        name,password,max_size,members
        Alpha,correct-horse-1,4,Ada Lovelace <ada@example.org>; Alan Turing
        Beta,battery-staple-2,,

    `max_size` and `members` (`;`-separated, `Name` or `Name <email>`) are optional. Every row is reported as
    created or refused with its reason; the good rows are created. Exit status 1 when any row was refused.
    """
    if not csv_file.is_file():
        raise click.ClickException(f"{csv_file}: no such file")
    content = csv_file.read_bytes()
    if len(content) > MAX_TEAMS_CSV_BYTES:
        raise click.ClickException(f"{csv_file} is {len(content):,} bytes; the platform takes at most "
                                   f"{MAX_TEAMS_CSV_BYTES // 1024} KiB per import: split it")
    with session.console.status(f"importing {csv_file.name}…"):
        report = session.client.post("/api/v1/admin/teams", content=content,
                                     headers={"content-type": "text/csv; charset=utf-8"},
                                     timeout=httpx.Timeout(IMPORT_TIMEOUT_S, connect=10.0))
    session.console.print(tables.import_table(report))
    if report["refused"]:
        raise SystemExit(1)


def _set_standing(session: Session, team: str, flag: str, value: bool, reason: str) -> None:
    """Only `flag` changes: the platform keeps the other as the team's previous decision set it."""
    client = session.client
    found = find_team(client, team)
    decided = client.post(f"/api/v1/admin/teams/{found['id']}/standing", json={flag: value, "reason": reason})
    state = ", ".join(name for name in ("hidden", "disqualified") if decided[name]) or "in good standing"
    session.console.print(Text(f"Team #{found['id']} {found['name']}: {state}. The boards follow within moments."))


@admin.command("hide", short_help="Hide a team from the public boards.")
@click.argument("team")
@click.option("--undo", is_flag=True, help="Show the team again.")
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@pass_session
def hide(session: Session, team: str, undo: bool, reason: str) -> None:
    """Hide TEAM (id or name) from the public boards; it still sees its own scores. Audited."""
    _set_standing(session, team, "hidden", not undo, reason)


@admin.command("disqualify", short_help="Disqualify a team (or --undo).")
@click.argument("team")
@click.option("--undo", is_flag=True, help="Requalify the team.")
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@pass_session
def disqualify(session: Session, team: str, undo: bool, reason: str) -> None:
    """Disqualify TEAM (id or name): off every board, public and private. Audited."""
    _set_standing(session, team, "disqualified", not undo, reason)


@admin.command("reveal-private", short_help="Reveal a task's private leaderboard.")
@click.argument("task")
@click.option("--undo", is_flag=True, help="Hide the private board again.")
@pass_session
def reveal_private(session: Session, task: str, undo: bool) -> None:
    """Show TASK's private leaderboard to everyone (or, with --undo, to admins only again). Audited."""
    session.client.post(f"/api/v1/admin/leaderboards/{task}/reveal", json={"revealed": not undo})
    what = "hidden again (admins only)" if undo else "revealed to everyone"
    session.console.print(f"The private leaderboard of {task} is {what}: `podium leaderboard {task} --private`.")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone().isoformat()  # a naive time is the local time


@admin.command("rescore", short_help="Rescore a task and show who moved.")
@click.argument("task")
@click.option("--id", "submission_ids", type=int, multiple=True, help="Only this submission; repeat for more.")
@click.option("--after", type=click.DateTime(DATETIME_FORMATS), help="Only submissions made after (local time "
              "unless an offset is given).")
@click.option("--before", type=click.DateTime(DATETIME_FORMATS), help="Only submissions made before.")
@click.option("--version", "scorer_version", default="", help="The new scorer version (default: a fresh one).")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow it until the board switches.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=900.0, show_default=True)
@pass_session
def rescore(session: Session, task: str, submission_ids: tuple[int, ...], after: datetime | None,
            before: datetime | None, scorer_version: str, wait: bool, timeout_s: float) -> None:
    """Score TASK's submissions again (all, a time range, or given ids) under a new scorer version, follow the
    progress, and show who moved when the board switches. The old scores stay."""
    client, console = session.client, session.console
    body: dict[str, Any] = {"task_id": task, "submission_ids": list(submission_ids), "scorer_version": scorer_version}
    body.update({k: v for k, v in (("submitted_after", _iso(after)), ("submitted_before", _iso(before))) if v})
    started = client.post("/api/v1/admin/rescores", json=body)
    console.print(f"Rescore {started['rescore_id']}: {started['submissions']} submissions of {started['task_id']} "
                  f"under {started['scorer_version']}")
    if not wait:
        console.print(f"`podium admin rescore-status {started['rescore_id']}` follows it.")
        return
    report = _follow_rescore(session, started, timeout_s)
    _print_rescore(session, report, timeout_s)


def _follow_rescore(session: Session, started: dict[str, Any], timeout_s: float) -> dict[str, Any] | None:
    client, deadline = session.client, time.monotonic() + timeout_s
    report: dict[str, Any] | None = None
    with Progress(TextColumn("rescoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=session.console) as progress:
        bar = progress.add_task("rescore", total=started["submissions"])
        while time.monotonic() < deadline:
            try:
                report = client.get(f"/api/v1/admin/rescores/{started['rescore_id']}")
            except ApiError as error:
                if error.status != 404:  # 404: the leaderboard has not seen the request yet
                    raise
            if report is not None:
                progress.update(bar, total=report["expected"], completed=report["done"])
                if report["completed"]:
                    break
            time.sleep(RESCORE_POLL_S)
    return report


def _print_rescore(session: Session, report: dict[str, Any] | None, timeout_s: float) -> None:
    console = session.console
    if report is None or not report["completed"]:
        done = f"{report['done']}/{report['expected']}" if report else "0"
        console.print(f"still running after {timeout_s:.0f} s ({done} rescored); "
                      "`podium admin rescore-status ID` follows it.")
        raise SystemExit(1)
    console.print(f"{report['done']}/{report['expected']} rescored; the board of {report['task_id']} now uses "
                  f"{report['scorer_version']}.")
    movements = report.get("movements") or []
    moved = [m for m in movements if m["old_rank"] != m["new_rank"] or m["old_score"] != m["new_score"]]
    if movements:
        console.print(tables.movements_table(movements))
    console.print(f"{len(moved)} of {len(movements)} teams moved." if moved else "Nobody moved.")


@admin.command("rescore-status", short_help="A rescore's progress and who moved.")
@click.argument("rescore_id")
@pass_session
def rescore_status(session: Session, rescore_id: str) -> None:
    """Show a rescore's progress and, once complete, who moved."""
    report = session.client.get(f"/api/v1/admin/rescores/{rescore_id}")
    if not report["completed"]:
        session.console.print(f"{report['done']}/{report['expected']} rescored so far.")
        return
    _print_rescore(session, report, 0)


@admin.command("rebuild-board", short_help="Rebuild every board from the event log.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--accept-lost-history", is_flag=True,
              help="Rebuild even though JetStream's store was wiped and the streams lack events the boards count.")
def rebuild_board(yes: bool, accept_lost_history: bool) -> None:
    """Rebuild every leaderboard from the event log: empty the projection, replay the SCORES, TEAMS and BOARD
    streams, republish every board.

    There is no HTTP route for this: it runs `python -m leaderboard_service rebuild` as a subprocess, which talks
    to the platform's NATS and PostgreSQL directly. So it works only for an operator on the platform's network,
    on a host with Podium's leaderboard_service installed and its settings in the environment
    (PODIUM_NATS_URL, PODIUM_POSTGRES_DSN, PODIUM_COMPETITION_FILE, …); --url is not used.
    """
    if importlib.util.find_spec("leaderboard_service") is None:
        raise click.ClickException("rebuild-board runs `python -m leaderboard_service rebuild`, which is not "
                                   "installed here: run it on a host of the platform "
                                   "(pip install 'podium[leaderboard_service]')")
    if not yes:
        click.confirm("Rebuild every leaderboard from the event log now?", abort=True)
    command = [sys.executable, "-m", "leaderboard_service", "rebuild",
               *(["--accept-lost-history"] if accept_lost_history else [])]
    click.echo(f"running {' '.join(command[1:])} …", err=True)
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise click.ClickException(f"the rebuild failed (exit {result.returncode}); is the platform's NATS and "
                                   f"PostgreSQL reachable from here (PODIUM_NATS_URL, PODIUM_POSTGRES_DSN)?\n{tail}")
    click.echo(result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "rebuilt")


@admin.command("export", short_help="Export a leaderboard as CSV (or JSON).")
@click.argument("task")
@click.option("--csv", "fmt", flag_value="csv", default=True, help="As CSV (the default).")
@click.option("--json", "fmt", flag_value="json", help="As the API's JSON.")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True), default="-",
              show_default=True, help="Where to write it (`-`: standard output).")
@pass_session
def export(session: Session, task: str, fmt: str, output: Path) -> None:
    """Export TASK's leaderboard (with the private ranks and scores, as an admin)."""
    client = session.client
    if fmt == "csv":
        text = client.request("GET", f"/api/v1/leaderboards/{task}/export.csv", auth="optional").text
    else:
        text = json.dumps(client.wait_for_board(task), indent=2, ensure_ascii=False) + "\n"
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    rows = max(0, len(text.strip().splitlines()) - 1) if fmt == "csv" else None
    click.echo(f"wrote {output}" + (f" ({rows} teams)" if rows is not None else ""), err=True)


@admin.command("stats", short_help="Counts: teams, submissions, queues, boards.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of tables.")
@pass_session
def stats(session: Session, as_json: bool) -> None:
    """The platform's counts: teams, questions, submissions, scorer queues, each task's board."""
    client = session.client
    counts = client.get("/api/v1/admin/stats")
    boards = []
    for task in client.tasks():
        try:
            board = client.board(task["id"])
        except ApiError as error:
            if error.status != 503:  # 503: not loaded yet (no score so far)
                raise
            board = {"public": [], "private_revealed": False}
        public = board.get("public") or []
        boards.append({"task": task["id"], "teams_on_board": len(public),
                       "best_score": public[0]["score"] if public else None,
                       "private_revealed": bool(board.get("private_revealed"))})
    if as_json:
        print_json({"platform": counts, "boards": boards})
        return
    session.console.print(tables.stats_view(counts, boards))
