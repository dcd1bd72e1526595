"""The participants' commands: log in, see the tasks, submit and watch the score arrive, list one's submissions,
see (or watch) a leaderboard, ask the organizers a question and read the answers."""

from __future__ import annotations

import contextlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from podium_cli import tables
from podium_cli.client import PodiumClient
from podium_cli.live import LiveBoard, LiveFeed, live_feed
from podium_cli.session import Session, pass_session
from podium_cli.submitting import POLL_INTERVAL_S, SubmissionPush, check_file, upload, wait_for_outcome
from proto.live import LogMessage, ProgressMessage, QueueMessage


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@click.command(short_help="Log in and remember the tokens.")
@click.option("--name", "-n", envvar="PODIUM_NAME", help="Team or admin name (prompted when missing). "
              "[env: PODIUM_NAME]")
@click.option("--password", "-p", envvar="PODIUM_PASSWORD", help="Password (prompted, hidden, when missing). "
              "[env: PODIUM_PASSWORD]")
@pass_session
def login(session: Session, name: str | None, password: str | None) -> None:
    """Log in to Podium as a team (or an admin) and remember the tokens.

    The access and refresh tokens are kept in $PODIUM_CONFIG_DIR/credentials.json (default
    ~/.config/podium/credentials.json, readable by you only), one pair per Podium URL; an expired access token
    is renewed with the refresh token without asking again.
    """
    name = name or click.prompt("Team (or admin) name")
    password = password or click.prompt("Password", hide_input=True)
    credentials = session.client.login(name, password)
    role = "an admin" if credentials.is_admin else "a team"
    session.console.print(f"Logged in to {session.url} as [bold]{escape(name)}[/] ({role}); "
                          f"tokens kept in {escape(str(session.store.path))}")


@click.command(short_help="Forget the stored tokens.")
@pass_session
def logout(session: Session) -> None:
    """Forget the tokens stored for this Podium URL."""
    if session.client.logout():
        session.console.print(f"Logged out of {session.url}.")
    else:
        session.console.print(f"Not logged in to {session.url}.")


@click.command(short_help="Show who you are logged in as.")
@pass_session
def whoami(session: Session) -> None:
    """Show the team (or admin) the stored tokens belong to."""
    me = session.client.me()
    role = "admin" if me.get("is_admin") else f"team #{me['id']}"
    session.console.print(Text.assemble((me["name"], "bold"), f" ({role}) at {session.url}"))
    for member in me.get("members", []):
        session.console.print(Text(f"  {member['name']}" + (f" <{member['email']}>" if member.get("email") else "")))


@click.command(short_help="List the tasks, what to submit and the time left.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of the text.")
@pass_session
def tasks(session: Session, as_json: bool) -> None:
    """List the competition's tasks: each one's description, what to submit, how it is scored, the phase now and
    the time left before it closes (or when it opens), and — logged in as a team — the submissions left today."""
    found = session.client.get("/api/v1/competition", auth="optional")
    if as_json:
        print_json(found)
        return
    session.console.print(Text(found.get("competition", ""), style="bold"))
    session.console.print(tables.task_view(found["tasks"], datetime.now(UTC)))


def _report_outcome(session: Session, submission: dict[str, Any], timeout_s: float) -> None:
    console, number = session.console, f"submission {submission['id']}"
    final = submission["status"]
    if final == "scored":
        console.print(Text.assemble(("✓ ", "green"), f"{number} ", ("scored", "bold green"), ": public score ",
                                    (tables.score(submission.get("public_score")), "bold")))
        if submission.get("private_score") is not None:
            console.print(f"  private score {tables.score(submission['private_score'])}")
        for metric, value in sorted((submission.get("metrics") or {}).items()):
            console.print(f"  {metric}: {value:.4g}")
        console.print(f"  `podium leaderboard {submission['task_id']}` shows where it puts you.")
        return
    if final in ("failed", "rejected", "expired", "cancelled"):
        console.print(Text.assemble(("✗ ", "red"), f"{number} ", (final, "bold red"), ": ",
                                    submission.get("reason") or "no reason given"))
    else:
        console.print(f"{number} is still {final} after {timeout_s:.0f} s; `podium submissions` shows it later.")
    raise SystemExit(1)


@click.command(short_help="Submit a file and watch it get scored.")
@click.argument("task")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for the score (live), or return once the upload is complete.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=900.0, show_default=True,
              help="Stop waiting for the score after this many seconds.")
@pass_session
def submit(session: Session, task: str, file: Path, wait: bool, timeout_s: float) -> None:
    """Submit FILE to TASK (its id or alias, e.g. `task1`) and watch it get scored.

    FILE is a ZIP of result tensors for a CPU-scored task, an ONNX model for a model task (`podium tasks` says
    which). Its size is checked here first; then it goes straight to storage through a presigned URL (with a
    progress bar), is completed with its sha256, and its status and score are followed live.

    Exit status: 0 when scored (or uploaded, with --no-wait); 1 when it failed or was refused (the reason is
    printed), or when no score came within --timeout.
    """
    client, console = session.client, session.console
    client.access_token()  # not logged in: say so before anything else
    chosen = client.task(task)
    size = check_file(chosen, file)
    # The socket is open before the upload completes, so no status change can slip past unseen.
    with live_feed(client) if wait else contextlib.nullcontext() as feed:
        submission = upload(client, chosen, file, size, console)
        console.print(f"submission {submission['id']} to {chosen['id']}: {size:,} bytes uploaded, "
                      f"{submission['status']}")
        if not wait:
            console.print(f"`podium submissions --task {chosen['id']}` shows its score once it is scored.")
            return
        submission = _follow(session, client, submission, feed, timeout_s)
    _report_outcome(session, submission, timeout_s)


def _waiting(submission: dict[str, Any]) -> str:
    if submission.get("queue_position"):
        eta = submission.get("eta_s")
        return f"queued: position {submission['queue_position']}" + (f", about {eta:.0f} s" if eta else "")
    return f"{submission['status']}…"


def _follow(session: Session, client: PodiumClient, submission: dict[str, Any], feed: LiveFeed | None,
            timeout_s: float) -> dict[str, Any]:
    console = session.console
    with console.status(_waiting(submission)) as spinner:
        def on_status(latest: dict[str, Any]) -> None:
            console.print(Text.assemble("  status: ", tables.status(latest["status"])))
            spinner.update(_waiting(latest))

        def on_push(message: SubmissionPush) -> None:
            if isinstance(message, ProgressMessage):
                spinner.update(f"scoring: {message.done}/{message.total}")
            elif isinstance(message, QueueMessage):
                spinner.update(_waiting({"status": "received", "queue_position": message.queue_position,
                                         "eta_s": message.eta_s}))
            elif isinstance(message, LogMessage):
                style = {"error": "red", "warning": "yellow"}.get(message.level, "dim")
                console.print(Text(f"  │ {message.line}", style=style))

        try:
            return wait_for_outcome(client, submission, feed, timeout_s, on_status, on_push)
        except KeyboardInterrupt:
            console.print(f"stopped waiting; submission {submission['id']} goes on being scored "
                          "(`podium submissions` shows it).")
            raise SystemExit(130) from None


@click.command(short_help="List your team's submissions.")
@click.option("--task", help="Only this task's submissions (id or alias).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of a table.")
@pass_session
def submissions(session: Session, task: str | None, as_json: bool) -> None:
    """List your team's submissions, newest first: status, scores, and why any failed."""
    client = session.client
    params = {"task_id": client.task(task)["id"]} if task else {}
    found = client.get("/api/v1/submissions", params=params)
    if as_json:
        print_json(found)
    else:
        session.console.print(tables.submissions_table(found))


def _board_view(board: dict[str, Any], private: bool, highlight: str | None, note: str = "") -> Group:
    if private and board.get("private") is None:
        raise click.ClickException(f"the private leaderboard of {board['task_id']} is not revealed yet "
                                   "(admins always see it)")
    parts: list[Any] = [tables.board_table(board, private=private, highlight=highlight)]
    if note:
        parts.append(Text(note, style="dim"))
    return Group(*parts)


@click.command(short_help="Show a task's leaderboard (--watch: live).")
@click.argument("task")
@click.option("--private", is_flag=True, help="The private board (admins, or everyone once it is revealed).")
@click.option("--at", "at", metavar="TIME", help="The board as it stood then (ISO 8601, e.g. 2026-12-01T12:00Z).")
@click.option("--watch", "-w", is_flag=True, help="Keep the board on screen, updated live (Ctrl-C stops).")
@click.option("--stop-after", type=click.FloatRange(min=0), metavar="SECONDS",
              help="With --watch: stop after this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of a table.")
@pass_session
def leaderboard(session: Session, task: str, private: bool, at: str | None, watch: bool, stop_after: float | None,
                as_json: bool) -> None:
    """Show TASK's leaderboard (id or alias); --watch keeps it live over the WebSocket."""
    client = session.client
    if watch and at:
        raise click.UsageError("--watch shows the board as it changes; it cannot be combined with --at")
    me = client.credentials.name if client.credentials else None
    if at:
        board = client.get(f"/api/v1/leaderboards/{task}", auth="optional", params={"at": at})
    else:
        board = client.wait_for_board(task)
    if as_json:
        print_json(board)
        return
    if not watch:
        session.console.print(_board_view(board, private, me))
        return
    _watch(session, client, LiveBoard(board), private, me, stop_after)


def _watch(session: Session, client: PodiumClient, board: LiveBoard, private: bool, me: str | None,
           stop_after: float | None) -> None:
    with live_feed(client) as feed:
        if feed is not None:
            feed.follow([board.task_id])
        _show_live(session, client, board, feed, private, me, stop_after)


def _show_live(session: Session, client: PodiumClient, board: LiveBoard, feed: LiveFeed | None, private: bool,
               me: str | None, stop_after: float | None) -> None:
    deadline = time.monotonic() + stop_after if stop_after is not None else None

    def view() -> Group:
        live_now = feed is not None and not feed.closed
        note = "live" if live_now else f"refreshed every {POLL_INTERVAL_S:.0f} s" + (
            "" if client.logged_in else " (log in for live updates)")
        return _board_view(board.board, private, me, f"{note} — Ctrl-C to stop")

    try:
        with Live(view(), console=session.console, auto_refresh=False) as screen:
            while deadline is None or time.monotonic() < deadline:
                wait_s = POLL_INTERVAL_S if deadline is None else max(0.0, min(POLL_INTERVAL_S,
                                                                              deadline - time.monotonic()))
                if feed is not None and not feed.closed:
                    message = feed.receive(wait_s)
                    if message is None or not board.apply(message):
                        continue
                    if board.stale:
                        board = LiveBoard(client.board(board.task_id))
                else:
                    time.sleep(wait_s)
                    board = LiveBoard(client.board(board.task_id))
                screen.update(view(), refresh=True)
    except KeyboardInterrupt:
        pass


@click.command(short_help="Ask the organizers a question.")
@click.argument("title")
@click.argument("question", required=False)
@pass_session
def ask(session: Session, title: str, question: str | None) -> None:
    """Ask the organizers a question: TITLE, then the QUESTION itself (prompted when missing).

    Only your team and the admins see it; answers show in `podium questions`.
    """
    question = question or click.prompt("Your question")
    posted = session.client.post("/api/v1/qa/questions", json={"title": title, "content": question})
    session.console.print(f"Question #{posted['id']} sent; its answer will show in `podium questions`.")


@click.command(short_help="Read announcements and answers.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@pass_session
def questions(session: Session, limit: int) -> None:
    """Read the announcements, the answered questions and your own questions."""
    found = session.client.get("/api/v1/qa/questions", params={"limit": limit})
    session.console.print(tables.questions_table(found))


COMMANDS = (login, logout, whoami, tasks, submit, submissions, leaderboard, ask, questions)
