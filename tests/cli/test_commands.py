"""The `podium` CLI against the real platform: log in (and refresh), submit and see the score or the reason,
list submissions, the leaderboard (also live), the admin commands, `podium demo`, and a platform that is down.
One test runs the installed `podium` executable as a user would."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
import numpy as np
import pytest
from litestar.testing import AsyncTestClient
from sklearn.metrics import roc_auc_score  # pyright: ignore[reportMissingTypeStubs, reportUnknownVariableType]

from deploy.demo import make_solution, noisy_probabilities, predictions_csv, solution_csv
from deploy.stack import EmbeddedStack, free_port
from podium_cli.dev import NOISE_LEVELS
from podium_cli.live import LiveFeed
from proto.competition import Competition
from proto.live import LiveMessage
from tests.api import bearer, login, new_team
from tests.cli.podium_runner import Cli, Team, flat, ok
from tests.conftest import ADMIN
from tests.service.competition.host import Host, task_struct

ROOT = Path(__file__).resolve().parents[2]
MakeTeam = Callable[[], Awaitable[Team]]


async def scored(team: Team, path: Path, task: str = "recon") -> int:
    """Submit through the CLI, expect a score; the submission id."""
    output = ok(await team.cli("submit", task, str(path)))
    assert "scored" in output, output
    found = re.search(r"submission (\d+)", output)
    assert found, output
    return int(found.group(1))


async def board_until(gateway: AsyncTestClient, task: str, check: Callable[[dict], bool],
                      token: str | None = None) -> dict:
    async with asyncio.timeout(20):
        while True:
            response = await gateway.get(f"/api/v1/leaderboards/{task}", headers=bearer(token) if token else {})
            if response.status_code == 200 and check(response.json()):
                return response.json()
            await asyncio.sleep(0.2)


def names(entries: list[dict] | None) -> set[str]:
    return {e["team_name"] for e in entries or []}


def watch_the_pushes(monkeypatch: pytest.MonkeyPatch, task: str, awaited: str) -> tuple[list[dict], threading.Event]:
    """What the in-process CLI's socket receives about `task`, in order (as JSON objects); the event is set once a
    push names `awaited`, and once it is set the watcher's next read is a Ctrl-C (which `--watch` takes as "stop")."""
    pushes: list[dict] = []
    stop = threading.Event()
    receive = LiveFeed.receive

    def spied(feed: LiveFeed, timeout_s: float) -> LiveMessage | None:
        if stop.is_set():
            raise KeyboardInterrupt
        message = receive(feed, timeout_s)
        if getattr(message, "task_id", None) == task:
            pushes.append(msgspec.to_builtins(message))
            if awaited in json.dumps(pushes[-1]):
                stop.set()
        return message

    monkeypatch.setattr(LiveFeed, "receive", spied)
    return pushes, stop


async def until(condition: Callable[[], bool], command: asyncio.Task, timeout_s: float = 60) -> None:
    """Wait for `condition` while the CLI command runs; a command that ends first fails with its output."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            assert not command.done(), command.result().output
            await asyncio.sleep(0.05)


# --- logging in ---------------------------------------------------------------------------------------


async def test_login_keeps_private_tokens_and_a_wrong_password_says_so(
    make_cli: Callable[[], Cli], make_team: MakeTeam, gateway_url: str
) -> None:
    team = await make_team()
    credentials = team.cli.config_dir / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    stored = json.loads(credentials.read_text())[gateway_url]
    assert stored["name"] == team.name and stored["access_token"] and stored["refresh_token"]
    assert team.name in ok(await team.cli("whoami"))

    podium = make_cli()
    wrong = await podium("login", "--name", team.name, "--password", "not-the-password")
    assert wrong.exit_code == 1
    assert "Error:" in wrong.output and "(HTTP 401)" in wrong.output
    assert not (podium.config_dir / "credentials.json").exists()
    prompted = await podium("login", input=f"{team.name}\n{team.password}\n")  # asked for, password hidden
    assert "Logged in" in ok(prompted) and team.password not in prompted.output
    assert "Logged out" in ok(await podium("logout"))
    anonymous = await podium("submissions")
    assert anonymous.exit_code == 1 and "not logged in" in anonymous.output and "podium login" in anonymous.output


async def test_an_expired_access_token_is_refreshed_without_asking(make_team: MakeTeam, gateway_url: str) -> None:
    team = await make_team()
    path = team.cli.config_dir / "credentials.json"

    def tamper(**fields: object) -> dict:
        everything = json.loads(path.read_text())
        everything[gateway_url].update(fields)
        path.write_text(json.dumps(everything))
        return everything[gateway_url]

    before = tamper(access_token="expired.access.token", expires_at=0)  # known to be expired: refreshed first
    assert team.name in ok(await team.cli("whoami"))
    after = json.loads(path.read_text())[gateway_url]
    assert after["access_token"] != "expired.access.token" and after["refresh_token"] != before["refresh_token"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    tamper(access_token="revoked-or-garbage")  # refused by the platform (401): refreshed, then retried once
    assert "Your submissions" in ok(await team.cli("submissions"))

    tamper(access_token="garbage", expires_at=0, refresh_token="not-a-refresh-token")
    ended = await team.cli("whoami")
    assert ended.exit_code == 1 and "podium login" in ended.output and "session" in ended.output


async def test_a_token_from_the_environment_replaces_the_login(make_cli: Callable[[], Cli], admin_token: str) -> None:
    podium = make_cli()  # never logged in
    assert "root-admin (admin)" in ok(await podium("whoami", env={"PODIUM_TOKEN": admin_token}))
    refused = await podium("whoami", env={"PODIUM_TOKEN": "not-a-token"})
    assert refused.exit_code == 1 and "PODIUM_TOKEN was refused" in flat(refused.output)


async def test_a_platform_that_is_down_cannot_be_reached(make_cli: Callable[[], Cli]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    podium = make_cli()
    for args in (["leaderboard", "recon"], ["login", "--name", "a", "--password", "b"], ["tasks"]):
        result = await podium(*args, env={"PODIUM_URL": url})
        assert result.exit_code == 1, result.output
        assert f"cannot reach Podium at {url}" in flat(result.output)


# --- submitting ---------------------------------------------------------------------------------------


async def test_submit_uploads_with_progress_then_shows_the_score(
    make_team: MakeTeam, archive: Callable[..., Path], gateway: AsyncTestClient, admin_token: str
) -> None:
    team = await make_team()
    result = await team.cli("submit", "task1", str(archive("recon", 0.05)))  # an alias works as well
    output = ok(result)
    found = re.search(r"submission (\d+) to recon", output)
    assert found, output
    submission_id = int(found.group(1))
    view = (await gateway.get(f"/api/v1/submissions/{submission_id}", headers=bearer(admin_token))).json()
    assert view["status"] == "scored" and view["team_id"] == team.id
    assert "uploading" in output  # the progress bar's last state
    assert f"submission {submission_id} scored: public score {view['public_score']:.4f}" in output
    assert "status: scored" in output
    assert "│ scored 12 samples; public PSNR" in output  # the scorer's log, pushed over the WebSocket
    # In the submission's own order, whatever order the pushes came in: its log, then the outcome it led to.
    assert output.index("│ started:") < output.index("│ scored 12 samples") < output.index("status: scored")

    later = await team.cli("submit", "recon", str(archive("recon", 0.2, seed=1)), "--no-wait")
    assert "uploaded, received" in ok(later) and "status:" not in later.output
    listing = ok(await team.cli("submissions", "--task", "task1"))
    assert str(submission_id) in listing and f"{view['public_score']:.4f}" in listing
    as_json = json.loads(ok(await team.cli("submissions", "--json")))
    assert {s["id"] for s in as_json} >= {submission_id} and len(as_json) == 2


async def test_a_submission_that_fails_shows_the_reason_and_exits_non_zero(
    make_team: MakeTeam, tmp_path: Path
) -> None:
    team = await make_team()
    not_a_zip = tmp_path / "predictions.zip"
    not_a_zip.write_bytes(b"these are not the tensors you are looking for" * 10)
    result = await team.cli("submit", "lab", str(not_a_zip))
    assert result.exit_code == 1, result.output
    assert "failed" in result.output and "not a ZIP archive" in flat(result.output)
    assert result.output.index("│ started:") < result.output.index("│ not scored:") < result.output.index(
        "status: failed")
    listing = ok(await team.cli("submissions"))
    assert "failed" in listing and "not a ZIP archive" in flat(listing)


async def test_submit_refuses_bad_input_before_uploading(
    make_team: MakeTeam, archive: Callable[..., Path], tmp_path: Path, admin_cli: Cli
) -> None:
    team = await make_team()
    good = archive("lab")
    too_big = tmp_path / "big.zip"
    too_big.write_bytes(b"\0" * 2_000_001)  # the lab task takes 2,000,000 bytes at most
    empty = tmp_path / "empty.zip"
    empty.write_bytes(b"")
    notes = tmp_path / "notes.txt"
    notes.write_text("my predictions, in words\n")
    cases = [
        (["submit", "nope", str(good)], "no task 'nope'"),
        (["submit", "lab", str(tmp_path / "missing.zip")], "no such file"),
        (["submit", "lab", str(too_big)], "accepts at most 2,000,000"),
        (["submit", "lab", str(empty)], "is empty"),
        (["submit", "lab", str(notes)], "task lab takes a ZIP of the result tensors, a .zip file; got 'notes.txt'"),
    ]
    for args, message in cases:
        result = await team.cli(*args)
        assert result.exit_code == 1 and message in flat(result.output), (args, result.output)
    assert "none yet" in ok(await team.cli("submissions"))  # nothing reached the platform
    as_admin = await admin_cli("submit", "lab", str(good))
    assert as_admin.exit_code == 1 and "admins do not submit" in flat(as_admin.output)


# --- leaderboards -------------------------------------------------------------------------------------


async def test_the_leaderboard_shows_the_team_and_watches_live(
    make_team: MakeTeam, archive: Callable[..., Path], make_cli: Callable[[], Cli], gateway: AsyncTestClient,
    admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = await make_team()
    await scored(team, archive("recon", 0.04, seed=3))
    await board_until(gateway, "recon", lambda b: team.name in names(b["public"]))
    table = ok(await make_cli()("leaderboard", "task1"))  # anyone may look, by alias too
    assert "recon — public leaderboard" in table and team.name in table
    line = next(line for line in table.splitlines() if team.name in line)
    assert re.search(r"\d+\.\d{4}", line)
    board = json.loads(ok(await team.cli("leaderboard", "recon", "--json")))
    assert team.name in names(board["public"]) and board["private"] is None
    hidden = await team.cli("leaderboard", "recon", "--private")
    assert hidden.exit_code == 1 and "not revealed" in hidden.output
    missing = await team.cli("leaderboard", "nope")
    assert missing.exit_code == 1 and "no task 'nope'" in missing.output and "HTTP 404" in missing.output

    other_id, other_name, other_password = await new_team(gateway, admin_token)
    other_token = await login(gateway, other_name, other_password)
    pushes, stop = watch_the_pushes(monkeypatch, "recon", other_name)
    # --stop-after only bounds a watcher that never sees the change: it is stopped as a person would (Ctrl-C).
    watching = asyncio.create_task(team.cli("leaderboard", "recon", "--watch", "--stop-after", "150"))
    try:
        await until(lambda: bool(pushes), watching)  # the socket follows the task: its whole board arrived
        # Through the API, not a second CliRunner: one CliRunner at a time owns sys.stdout.
        response = await gateway.post("/submit/recon?wait=30", headers=bearer(other_token),
                                      files={"file": ("s.zip", archive("recon", 0.01, seed=4).read_bytes())})
        assert response.json()["status"] == "scored", response.text
        await until(stop.is_set, watching)
    finally:
        stop.set()  # whatever happened, the watcher stops at its next read of the socket
    watched = ok(await watching)
    other = Team(other_id, other_name, other_password, team.cli)
    assert other.name not in json.dumps(pushes[0])  # the board the watcher followed from lacked the other team,
    assert other.name in watched and "live" in watched  # which arrived over the WebSocket, not polled


# --- admins -------------------------------------------------------------------------------------------


async def test_admins_create_and_import_teams(admin_cli: Cli, make_cli: Callable[[], Cli], tmp_path: Path) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    created = ok(await admin_cli("admin", "create-team", name, "--password", "pw-created-1",
                                 "--member", "Ada Lovelace <ada@example.org>", "--member", "Alan Turing"))
    assert f"{name} with 2 members" in created
    duplicate = await admin_cli("admin", "create-team", name, "--password", "password-2")
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output and "HTTP 409" in duplicate.output
    teams = json.loads(ok(await admin_cli("admin", "teams", "--json")))
    mine = next(t for t in teams if t["name"] == name)
    assert {m["email"] for m in mine["members"]} == {"ada@example.org", ""}

    alpha, beta = f"csv-{uuid.uuid4().hex[:8]}", f"csv-{uuid.uuid4().hex[:8]}"
    teams_csv = tmp_path / "teams.csv"
    teams_csv.write_text("name,password,max_size,members\n"
                         f"{alpha},correct-horse-1,4,Ada Lovelace <ada@example.org>; Alan Turing\n"
                         f"{beta},battery-staple-2,,\n"
                         f"{name},again-and-again,,\n"
                         ",no-name,,\n")
    result = await admin_cli("admin", "import-teams", str(teams_csv))
    assert result.exit_code == 1, result.output  # some rows were refused
    assert "2 created, 2 refused" in result.output
    assert alpha in result.output and beta in result.output and "already exists" in flat(result.output)
    assert "Logged in" in ok(await make_cli()("login", "--name", alpha, "--password", "correct-horse-1"))
    missing = await admin_cli("admin", "import-teams", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 1 and "no such file" in missing.output

    participant = make_cli()
    ok(await participant("login", "--name", beta, "--password", "battery-staple-2"))
    refused = await participant("admin", "create-team", "x", "--password", "y")
    assert refused.exit_code == 1 and "HTTP 403" in refused.output


async def test_hide_disqualify_and_reveal_the_private_board(
    admin_cli: Cli, make_team: MakeTeam, archive: Callable[..., Path], gateway: AsyncTestClient, admin_token: str,
    make_cli: Callable[[], Cli]
) -> None:
    team = await make_team()
    await scored(team, archive("lab", 0.06, seed=7), task="lab")
    await board_until(gateway, "lab", lambda b: team.name in names(b["public"]))

    assert "hidden" in ok(await admin_cli("admin", "hide", team.name, "--reason", "cli test"))
    await board_until(gateway, "lab", lambda b: team.name not in names(b["public"]), admin_token)
    output = ok(await admin_cli("admin", "disqualify", str(team.id)))
    assert "hidden, disqualified" in output  # hiding is kept: the standing route sets both
    await board_until(gateway, "lab", lambda b: team.name not in names(b["private"]), admin_token)
    assert "disqualified" in ok(await admin_cli("admin", "hide", str(team.id), "--undo"))
    assert "in good standing" in ok(await admin_cli("admin", "disqualify", team.name, "--undo"))
    await board_until(gateway, "lab", lambda b: team.name in names(b["public"]) and team.name in names(b["private"]),
                      admin_token)
    unknown = await admin_cli("admin", "hide", "no-such-team-anywhere")
    assert unknown.exit_code == 1 and "no team named" in unknown.output

    try:
        assert "revealed to everyone" in ok(await admin_cli("admin", "reveal-private", "lab"))
        await board_until(gateway, "lab", lambda b: b["private_revealed"])
        private = ok(await make_cli()("leaderboard", "lab", "--private"))
        assert "lab — private leaderboard" in private and team.name in private
    finally:
        assert "hidden again" in ok(await admin_cli("admin", "reveal-private", "lab", "--undo"))
    await board_until(gateway, "lab", lambda b: not b["private_revealed"])


async def test_export_writes_csv(admin_cli: Cli, make_team: MakeTeam, archive: Callable[..., Path],
                                 gateway: AsyncTestClient, tmp_path: Path) -> None:
    team = await make_team()
    await scored(team, archive("recon", 0.07, seed=8))
    await board_until(gateway, "recon", lambda b: team.name in names(b["public"]))
    target = tmp_path / "recon.csv"
    result = await admin_cli("admin", "export", "recon", "--csv", "-o", str(target))
    assert f"wrote {target}" in ok(result)
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert any(r["team_name"] == team.name for r in rows) and "private_score" in rows[0]
    to_stdout = ok(await admin_cli("admin", "export", "recon"))
    assert to_stdout.startswith("rank,team_id,team_name,score") and team.name in to_stdout
    as_json = json.loads(ok(await admin_cli("admin", "export", "task1", "--json")))
    assert team.name in names(as_json["public"])


async def test_stats_counts_accounts_and_boards(admin_cli: Cli, make_team: MakeTeam) -> None:
    team = await make_team()
    output = ok(await admin_cli("admin", "stats"))
    assert "teams" in output and "unanswered questions" in output
    assert all(task in output for task in ("recon", "lab", "digits"))
    counts = json.loads(ok(await admin_cli("admin", "stats", "--json")))
    assert counts["platform"]["teams"] >= 1 and {b["task"] for b in counts["boards"]} >= {"recon", "lab"}
    refused = await team.cli("admin", "stats")
    assert refused.exit_code == 1 and "Admin privileges required" in refused.output


async def test_rescore_shows_progress_and_who_moved(
    admin_cli: Cli, make_team: MakeTeam, archive: Callable[..., Path]
) -> None:
    first, second = await make_team(), await make_team()
    ids = [await scored(first, archive("lab", 0.05, seed=9), task="lab"),
           await scored(second, archive("lab", 0.15, seed=10), task="lab")]
    result = await admin_cli("admin", "rescore", "lab", "--id", str(ids[0]), "--id", str(ids[1]))
    output = ok(result)
    identity = json.loads(ok(await admin_cli("admin", "competition", "show", "--json")))["identities"]["lab"]
    assert re.search(rf"Rescore \S+: 2 submissions of lab under {identity}-r", output)  # the task's identity, renewed
    assert "rescoring" in output and "2/2" in output  # the progress bar's last state
    assert "2/2 rescored" in output and "Who moved" in output
    lines = {name: next(line for line in output.splitlines() if name in line) for name in (first.name, second.name)}
    assert all("→" in line for line in lines.values())
    assert "Nobody moved." in output  # the same scorer again: the same scores, the same ranks
    unknown = await admin_cli("admin", "rescore", "lab", "--id", "999999999")
    assert unknown.exit_code == 1 and "no scored or failed submission" in flat(unknown.output)


async def test_rebuild_board_runs_the_leaderboard_service_rebuild(
    admin_cli: Cli, auth_service: dict[str, str], competition: tuple[Path, Competition], stack: EmbeddedStack
) -> None:
    # The leaderboard service's own command, as its NATS user (it writes the leaderboards bucket, which auth_service's
    # user may not even read).
    own = {key: stack.service_env("leaderboard_service")[key] for key in ("PODIUM_NATS_USER", "PODIUM_NATS_PASSWORD")}
    env = {**auth_service, **own, "PODIUM_COMPETITION_FILE": str(competition[0])}
    declined = await admin_cli("admin", "rebuild-board", input="n\n", env=env)
    assert declined.exit_code == 1 and "Aborted" in declined.output
    result = await admin_cli("admin", "rebuild-board", "--yes", env=env)
    assert "rebuilt from" in ok(result) and "leaderboard_service rebuild" in result.output


async def test_ask_and_read_the_questions(make_team: MakeTeam) -> None:
    team = await make_team()
    asked = ok(await team.cli("ask", "Shape of the samples?", "Is it 3×16×16 for every sample?"))
    found = re.search(r"Question #(\d+)", asked)
    assert found, asked
    question_id = found.group(1)
    prompted = ok(await team.cli("ask", "Deadline?", input="When does the phase close?\n"))
    assert "Question #" in prompted
    listing = ok(await team.cli("questions"))
    assert question_id in listing and "Shape of the samples?" in listing and "not answered yet" in listing


async def test_announcements_are_listed_as_announcements(make_team: MakeTeam, gateway: AsyncTestClient,
                                                         admin_token: str) -> None:
    title = f"Deadline moved {uuid.uuid4().hex[:8]}"
    posted = await gateway.post("/api/v1/qa/announcements", headers=bearer(admin_token),
                                json={"title": title, "content": "Phase 1 closes on Friday."})
    assert posted.status_code in (200, 201), posted.text
    team = await make_team()
    listing = ok(await team.cli("questions"))
    announcements = listing.split("Questions (newest first)")[0]
    assert "Announcements (newest first)" in announcements and title in announcements
    row = next(line for line in announcements.splitlines() if title in line)
    assert "not answered yet" not in row


async def test_demo_seeds_teams_and_shows_an_ordered_board(
    make_cli: Callable[[], Cli], competition: tuple[Path, Competition]
) -> None:
    prefix = f"demo{uuid.uuid4().hex[:6]}"
    args = ["demo", "--admin-name", ADMIN[0], "--admin-password", ADMIN[1], "--competition-file",
            str(competition[0]), "--task", "lab", "--teams", "3", "--prefix", prefix]
    output = ok(await make_cli()(*args))
    board = output[output.index("lab — public leaderboard"):]
    order = [board.index(f"{prefix}-{name}") for name in ("alpha", "bravo", "charlie")]
    assert order == sorted(order)  # less noise, higher PSNR, higher on the board
    found = re.search(rf"{prefix}-alpha\s+\S\s+(\S+)", output)
    assert found, output
    password = found.group(1)
    assert "Logged in" in ok(await make_cli()("login", "--name", f"{prefix}-alpha", "--password", password))
    again = ok(await make_cli()(*args[:-4], "--teams", "1", "--prefix", prefix))  # an existing team: a new password
    assert f"{prefix}-alpha" in again
    wrong = await make_cli()("demo", "--admin-password", "nope", "--competition-file", str(competition[0]))
    assert wrong.exit_code == 1 and "cannot log in as 'admin'" in wrong.output


async def test_demo_submits_to_a_csv_task_too_and_its_board_ranks_by_auc(
    make_cli: Callable[[], Cli], gateway: AsyncTestClient, admin_token: str, tmp_path: Path
) -> None:
    """A binary csv task whose ground truth is the solution the demo generates (as `make run` seeds the demo's): each
    team gets a PSNR archive and a CSV of probabilities, scored with the task's primary metric, ROC AUC."""
    host = Host(gateway, admin_token)
    columns = [{"name": "roc_auc", "column": "AUC", "primary": True}, {"name": "log_loss", "column": "LogLoss"}]
    task = {"id": f"churn-{uuid.uuid4().hex[:8]}", "title": "Churn (a CLI test's own)", "kind": "cpu",
            "format": "csv", "metric": "roc_auc", "metrics": columns, "daily_quota": 3, "max_upload_bytes": 200_000,
            "split": {"private_fraction": 0.5, "seed": int(uuid.uuid4().int % 10_000)}}
    await host.add_task(task)
    solution = make_solution(task_struct(task))
    completed = await host.upload_ground_truth(task["id"], solution_csv(solution))
    assert completed.status_code == 200, completed.text
    competition_file = tmp_path / "competition.toml"
    shown = await gateway.get("/api/v1/admin/competition", params={"format": "toml"}, headers=host.headers)
    competition_file.write_text(shown.text)

    prefix = f"demo{uuid.uuid4().hex[:6]}"
    output = ok(await make_cli()("demo", "--admin-name", ADMIN[0], "--admin-password", ADMIN[1], "--competition-file",
                                 str(competition_file), "--task", "lab", "--task", task["id"], "--teams", "3",
                                 "--prefix", prefix))
    teams = [f"{prefix}-{name}" for name in ("alpha", "bravo", "charlie")]
    for board_title in ("lab — public leaderboard", f"{task['id']} — public leaderboard"):
        board = output[output.index(board_title):]
        order = [board.index(team) for team in teams]
        assert order == sorted(order), output  # less noise: a higher PSNR, a higher AUC
    board = (await gateway.get(f"/api/v1/leaderboards/{task['id']}")).json()
    scores = {entry["team_name"]: entry["score"] for entry in board["public"]}
    for seed, (team, noise) in enumerate(zip(teams, NOISE_LEVELS, strict=False)):
        written = predictions_csv(solution, noisy_probabilities(solution, noise, seed=seed)).decode().split()[1:]
        probabilities = np.array([float(line.split(",")[1]) for line in written])
        expected = roc_auc_score(solution.target[solution.public], probabilities[solution.public])
        assert scores[team] == pytest.approx(expected, abs=1e-12), (team, scores)

    elsewhere = competition_file.read_text().replace(f"seed = {task['split']['seed']}",
                                                     f"seed = {task['split']['seed'] + 1}")
    competition_file.write_text(elsewhere)  # a file that would generate another solution than the platform's
    differs = await make_cli()("demo", "--admin-name", ADMIN[0], "--admin-password", ADMIN[1], "--competition-file",
                               str(competition_file), "--task", task["id"], "--teams", "1", "--prefix", prefix)
    assert differs.exit_code == 1 and f"task {task['id']} at " in flat(differs.output), differs.output
    assert "differs from" in flat(differs.output)


# --- the installed command ----------------------------------------------------------------------------


def test_the_installed_podium_command(gateway_url: str, tmp_path: Path) -> None:
    executable = Path(sys.executable).parent / "podium"
    assert executable.exists(), "the project installs the `podium` entry point"
    env = {**os.environ, "PODIUM_URL": gateway_url, "PODIUM_CONFIG_DIR": str(tmp_path), "COLUMNS": "200"}
    env.pop("PODIUM_TOKEN", None)
    login = subprocess.run([executable, "login", "--name", ADMIN[0], "--password", ADMIN[1]], env=env,
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert login.returncode == 0 and "as root-admin (an admin)" in flat(login.stdout), login.stderr
    tasks = subprocess.run([executable, "tasks"], env=env, capture_output=True, text=True, timeout=60)
    assert tasks.returncode == 0 and "recon" in tasks.stdout and "task1" in tasks.stdout, tasks.stderr
    logged_out = {**env, "PODIUM_CONFIG_DIR": str(tmp_path / "elsewhere")}
    wrong = subprocess.run([executable, "submit", "nope", "x.zip"], env=logged_out, capture_output=True, text=True,
                           timeout=60)
    assert wrong.returncode == 1 and "not logged in" in wrong.stderr and "Traceback" not in wrong.stderr
    version = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("podium, version")


pytestmark = pytest.mark.timeout(180)
