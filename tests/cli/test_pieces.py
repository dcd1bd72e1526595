"""The `podium` CLI's parts that need no platform: the credentials file, error messages, the live board, the
client-side file checks, and `podium up` handing over to `make run`'s supervisor."""

from __future__ import annotations

import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import httpx
import msgspec
import pytest
from click.testing import CliRunner

from podium_cli.client import problem_detail, websocket_url
from podium_cli.credentials import Credentials, CredentialStore, CredentialsUnreadable
from podium_cli.live import LiveBoard, LiveFeed
from podium_cli.main import cli
from podium_cli.submitting import TERMINAL, check_file
from proto.leaderboard import Entry
from proto.live import BoardDeltaMessage, BoardMessage, Moved, QueueMessage, SubmissionMessage
from proto.submissions import TERMINAL as PLATFORM_TERMINAL


def test_credentials_are_private_and_kept_per_url(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "podium")
    first = Credentials(name="alpha", access_token="a", refresh_token="r", expires_at=time.time() + 300)
    store.save("http://one.example/", first)
    store.save("http://two.example", Credentials(name="beta", access_token="b", refresh_token="s", expires_at=0))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert store.load("http://one.example") == first  # the trailing slash names the same Podium
    second = store.load("http://two.example")
    assert second is not None and second.expired() and not first.expired()
    assert store.forget("http://one.example") and not store.forget("http://one.example")
    assert store.load("http://one.example") is None and store.load("http://two.example") == second
    store.path.write_text("{not json")
    with pytest.raises(CredentialsUnreadable, match="log in again"):
        store.load("http://two.example")


def test_problem_details_become_one_readable_line() -> None:
    problem = httpx.Response(429, json={"status": 429, "title": "Too Many Requests", "detail": "daily quota used up"},
                             headers={"retry-after": "30"})
    assert problem_detail(problem) == "daily quota used up; retry after 30 s"
    invalid = httpx.Response(400, json={"detail": "Validation failed for POST /x",
                                        "errors": [{"key": "name", "message": "Expected `str`"}]})
    assert problem_detail(invalid) == "Validation failed for POST /x: name Expected `str`"
    assert problem_detail(httpx.Response(502, text="<html>Bad Gateway</html>")) == "<html>Bad Gateway</html>"
    assert problem_detail(httpx.Response(500)) == "Internal Server Error"
    assert websocket_url("https://podium.example.org", "/ws") == "wss://podium.example.org/ws"
    assert websocket_url("http://127.0.0.1:8000", "/ws?token=t") == "ws://127.0.0.1:8000/ws?token=t"


def test_the_cli_knows_the_platforms_terminal_statuses() -> None:
    assert TERMINAL == PLATFORM_TERMINAL


AT = datetime(2026, 6, 1, 12, tzinfo=UTC)


def entry(team: str, rank: int, score: float) -> Entry:
    return Entry(rank=rank, team_id=team, team_name=f"team {team}", score=score, submission_id=int(team),
                 submitted_at=AT, submissions=1, last_submission_at=AT)


def line(of: Entry) -> dict[str, Any]:
    """An entry as the REST board (and so the CLI's tables) has it."""
    return msgspec.to_builtins(of)


def delta(revision: int, changed: list[Entry] | None = None, moved: list[Moved] | None = None,
          removed: list[str] | None = None, task: str = "recon", **private: Any) -> BoardDeltaMessage:
    return BoardDeltaMessage(task_id=task, revision=revision, base_revision=revision - 1, private_revealed=False,
                             changed=changed or [], moved=moved or [], removed=removed or [], **private)


def test_a_live_board_follows_whole_boards_and_deltas() -> None:
    board = LiveBoard({"task_id": "recon", "revision": 1, "sort": "desc", "private_revealed": False,
                       "public": [line(entry("1", 1, 30.0)), line(entry("2", 2, 20.0))], "private": None})
    assert not board.apply(delta(2, [entry("9", 1, 99.0)], task="other"))
    assert not board.apply(SubmissionMessage(submission_id=1, status="scored"))
    assert board.apply(delta(2, [entry("3", 1, 40.0)], [("1", 2, -1), ("2", 3, -1)]))
    assert [e["team_id"] for e in board.board["public"]] == ["3", "1", "2"] and board.board["revision"] == 2
    assert board.board["public"][2] == {**line(entry("2", 3, 20.0)), "rank_change": -1}  # moved: only its place
    assert board.apply(delta(3, [entry("2", 2, 20.0)], removed=["1"]))
    assert [(e["team_id"], e["rank"]) for e in board.board["public"]] == [("3", 1), ("2", 2)]
    assert not board.stale
    board.apply(delta(4, private_changed=[entry("3", 1, 41.0)], private_moved=[], private_removed=[]))
    assert board.stale  # a private delta without the private board: the whole board must be read again
    assert board.apply(BoardMessage(task_id="recon", revision=5, sort="desc", private_revealed=True,
                                    public=[entry("2", 1, 25.0)], private=[entry("2", 1, 24.0)]))
    assert board.board["private"] == [line(entry("2", 1, 24.0))] and board.board["private_revealed"] is True


class Frames:
    """A socket connection that hands out the frames given, then times out."""

    def __init__(self, *frames: str) -> None:
        self.frames = list(frames)

    def recv(self, timeout: float) -> str:
        if not self.frames:
            raise TimeoutError
        return self.frames.pop(0)


def test_the_feed_decodes_the_gateways_messages_and_skips_what_it_does_not_know() -> None:
    sent = msgspec.json.encode(QueueMessage(submission_id=3, queue_position=2, eta_s=None)).decode()
    feed = LiveFeed(Frames('{"type": "confetti", "colour": "gold"}', "not json", sent))  # type: ignore[arg-type]
    assert feed.receive(0) is None and feed.receive(0) is None  # a newer gateway's message, a broken frame
    assert feed.receive(0) == QueueMessage(submission_id=3, queue_position=2, eta_s=None)
    assert feed.receive(0) is None and not feed.closed


def test_files_are_checked_before_any_upload(tmp_path: Path) -> None:
    task = {"id": "recon", "max_upload_bytes": 10}
    (tmp_path / "empty.zip").write_bytes(b"")
    (tmp_path / "big.zip").write_bytes(b"x" * 11)
    (tmp_path / "fine.zip").write_bytes(b"x" * 10)
    for name, message in (("missing.zip", "no such file"), ("empty.zip", "is empty"),
                          ("big.zip", "accepts at most 10")):
        with pytest.raises(click.ClickException, match=message):
            check_file(task, tmp_path / name)
    with pytest.raises(click.ClickException, match="no such file"):
        check_file(task, tmp_path)  # a folder is not a submission
    assert check_file(task, tmp_path / "fine.zip") == 10


def test_up_is_make_runs_supervisor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import deploy.run

    calls: list[list[str]] = []
    monkeypatch.setattr(deploy.run, "main", lambda argv: calls.append(argv) or 3)
    runner = CliRunner()
    shown = runner.invoke(cli, ["up", "--help"])
    assert shown.exit_code == 0 and "make run" in shown.output and "--free-ports" in shown.output
    result = runner.invoke(cli, ["up", "--free-ports", "--data-dir", str(tmp_path / "data")])
    assert calls == [["--data-dir", str(tmp_path / "data"), "--free-ports"]]
    assert result.exit_code == 3  # the supervisor's exit status is the command's
    runner.invoke(cli, ["up"])
    assert calls[-1] == ["--data-dir", ".podium-data"]


def test_every_command_has_help() -> None:
    runner = CliRunner()
    groups = {(): cli, ("admin",): cli.commands["admin"]}
    for prefix, group in groups.items():
        for name in group.commands:
            result = runner.invoke(cli, [*prefix, name, "--help"])
            assert result.exit_code == 0 and "Usage:" in result.output, (prefix, name, result.output)
    rebuild = " ".join(runner.invoke(cli, ["admin", "rebuild-board", "--help"]).output.split())
    assert "python -m leaderboard_service rebuild" in rebuild and "NATS" in rebuild
    assert sorted(cli.commands) == sorted(
        ["admin", "ask", "demo", "leaderboard", "login", "logout", "questions", "submissions", "submit", "tasks",
         "up", "whoami"])


def test_a_url_without_its_scheme_is_refused_at_once() -> None:
    result = CliRunner().invoke(cli, ["--url", "127.0.0.1:8000", "tasks"])
    assert result.exit_code == 2 and "is not an http:// or https:// URL" in result.output
