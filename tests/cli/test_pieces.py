"""The `podium` CLI's parts that need no platform: the credentials file, error messages, the live board, the
client-side file checks, and `podium up` handing over to `make run`'s supervisor."""

from __future__ import annotations

import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import httpx
import msgspec
import pytest
from click.testing import CliRunner
from rich.console import Console

from podium_cli import hosting, tables
from podium_cli.client import problem_detail, websocket_url
from podium_cli.credentials import Credentials, CredentialStore, CredentialsUnreadable
from podium_cli.live import LiveBoard, LiveFeed
from podium_cli.main import cli
from podium_cli.submitting import TERMINAL, check_file
from proto.competition import parse_competition
from proto.leaderboard import Entry
from proto.live import BoardDeltaMessage, BoardMessage, Moved, QueueMessage, SubmissionMessage
from proto.submissions import TERMINAL as PLATFORM_TERMINAL
from proto.submissions import TaskInfo
from tests.conftest import TEST_COMPETITION


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


def test_times_left_read_as_a_person_says_them() -> None:
    assert tables.time_left(AT + timedelta(days=3, hours=4, minutes=5), AT) == "in 3 d 4 h"
    assert tables.time_left(AT + timedelta(days=2, minutes=59), AT) == "in 2 d"
    assert tables.time_left(AT + timedelta(hours=5, minutes=12), AT) == "in 5 h 12 min"
    assert tables.time_left(AT + timedelta(hours=1), AT) == "in 1 h"
    assert tables.time_left(AT + timedelta(minutes=25, seconds=30), AT) == "in 25 min"
    assert tables.time_left(AT + timedelta(seconds=59), AT) == "in under a minute"


def task_info(**fields: Any) -> dict[str, Any]:
    """A TaskInfo as `GET /api/v1/competition` answers it."""
    task = TaskInfo(id="recon", title="Reconstruction", kind="cpu", metric="psnr", sort="desc", daily_quota=5,
                    max_upload_bytes=2_000_000, aliases=("task1",), samples=2, sample_names=["s0", "s1"], shape=(2,),
                    phases=(), scorer_version="psnr-0", expected_format="a ZIP of 2 tensors")
    return {**msgspec.to_builtins(task), **fields}


def test_a_tasks_phase_now_says_what_a_participant_can_do() -> None:
    main = {"id": "main", "opens_at": "2026-01-01T00:00:00+00:00", "closes_at": "2026-06-03T14:00:00+00:00"}
    later = {"id": "final", "opens_at": "2026-06-02T12:00:00+00:00", "closes_at": "2026-07-01T00:00:00+00:00"}

    def phase(**fields: Any) -> str:
        return tables.phase_now(task_info(**fields), AT).plain

    assert phase() == "open, no deadline"
    open_now = phase(phases=[main], current_phase=main, closes_at=main["closes_at"])
    assert open_now.startswith("open: phase main, closes 2026-06-0") and open_now.endswith("(in 2 d 2 h)")
    assert phase(phases=[later], next_opens_at=later["opens_at"], accepting=False,
                 not_accepting_reason="no open phase").endswith("(in 1 d)")
    assert phase(phases=[main], accepting=False, not_accepting_reason="no open phase") == \
        "closed: no phase opens again"
    assert phase(accepting=False, not_accepting_reason="task recon has no ground truth yet") == \
        "open, no deadline; but it takes no submissions now: task recon has no ground truth yet"
    assert phase(archived=True, accepting=False) == "archived: read-only, it takes no more submissions"


def test_the_task_view_renders_the_description_as_markdown_and_the_quota_left() -> None:
    console = Console(width=120, record=True, color_system=None)
    console.print(tables.task_view([task_info(description="# Rules\n\nUse **float32** only.", quota_left=2),
                                    task_info(id="old", archived=True)], AT))
    text = console.export_text()
    assert "recon (also task1) — Reconstruction" in text and "Rules" in text and "Use float32 only." in text
    assert "**" not in text and "#" not in text
    assert "submit:    a ZIP of 2 tensors" in text and "2 of 5 submissions left today" in text
    assert "old (also task1) — Reconstruction  [archived]" in text and "5 submissions a day per team" in text


def test_diff_lines_are_marked_by_what_they_do() -> None:
    assert [tables.change_line(c).plain for c in ('task a: added (cpu, psnr, "A")', "task b: removed",
                                                    "task c: daily_quota 5 → 10",
                                                    "task c: scoring identity psnr-1 → psnr-2 (earlier scores stay)")] \
        == ['  + task a: added (cpu, psnr, "A")', "  - task b: removed", "  ~ task c: daily_quota 5 → 10",
            "  ! task c: scoring identity psnr-1 → psnr-2 (earlier scores stay)"]
    assert [tables.change_line(c).style for c in ("task a: added (x)", "task b: removed", "task c: x")] == \
        ["green", "red", "cyan"]


def test_a_competition_document_is_summed_up_one_row_per_task() -> None:
    competition = parse_competition(TEST_COMPETITION)
    recon = competition.task("recon")
    assert recon is not None
    with_truth = msgspec.structs.replace(recon, ground_truth_sha256="ab" * 32)
    competition = msgspec.structs.replace(competition, tasks=(with_truth, *competition.tasks[1:]))
    document = {"version": 4, "competition": msgspec.to_builtins(competition), "created_at": AT.isoformat(),
                "created_by": "root-admin", "changes": [], "identities": {"recon": with_truth.scorer_version},
                "stale": {"recon": 3}}
    console = Console(width=250, record=True, color_system=None)
    console.print(tables.competition_table(document, AT))
    text = console.export_text()
    assert "Podium tests — version 4, by root-admin" in text
    rows = {cells[0]: cells for line in text.splitlines()
            if len(cells := [cell.strip() for cell in line.strip().strip("│").split("│")]) == 9}
    assert rows["recon"][2:] == ["cpu", "psnr", "5/day", "open, no deadline", "abababababab",
                                 with_truth.scorer_version, "3"]
    assert rows["lab"][6] == "none yet" and rows["lab"][8] == "0"  # a key without a digest is no ground truth yet
    assert rows["closed"][5] == "closed"
    console = Console(width=250, record=True, color_system=None)
    console.print(tables.competition_table(document, AT, current=False))
    assert "stale counts are shown for the current version only" in console.export_text()


def test_a_competition_file_is_toml_or_json_and_the_version_is_the_etag(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("[competition]")
    (tmp_path / "c.JSON").write_text("{}")
    (tmp_path / "c.yaml").write_text("x: 1")
    assert hosting.read_document(tmp_path / "c.toml") == (b"[competition]", "application/toml")
    assert hosting.read_document(tmp_path / "c.JSON") == (b"{}", "application/json")
    with pytest.raises(click.ClickException, match="give a .toml or a .json file"):
        hosting.read_document(tmp_path / "c.yaml")
    with pytest.raises(click.ClickException, match="no such file"):
        hosting.read_document(tmp_path / "gone.toml")
    request = httpx.Request("GET", "http://podium.example/api/v1/admin/competition")
    assert hosting.version_of(httpx.Response(200, headers={"etag": '"7"'}, request=request)) == 7
    assert hosting.version_of(httpx.Response(200, headers={"etag": 'W/"12"'}, request=request)) == 12
    with pytest.raises(click.ClickException, match="without the competition's version"):
        hosting.version_of(httpx.Response(200, request=request))


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
    admin = cli.commands["admin"]
    groups = {(): cli, ("admin",): admin, ("admin", "competition"): admin.commands["competition"],  # type: ignore[attr-defined]
              ("admin", "ground-truth"): admin.commands["ground-truth"]}  # type: ignore[attr-defined]
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
