"""Boards through the public API with every service running: ranks from real scores, MLS-GOAT's shape,
hide/disqualify/reveal/finals with their audit, CSV, the board at a past moment, and a rebuild from the
streams that gives the identical board."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
from litestar.testing import AsyncTestClient

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from deploy.stack import EmbeddedStack
from proto.competition import Competition
from tests.api import bearer, login, new_team
from tests.conftest import ADMIN, task_of


async def submit(client: AsyncTestClient, token: str, data: bytes, task: str = "recon") -> dict:
    response = await client.post(f"/submit/{task}?wait=30", files={"file": ("s.zip", data)}, headers=bearer(token))
    assert response.status_code == 200 and response.json()["status"] == "scored", response.text
    return response.json()


async def board_until(client: AsyncTestClient, check, token: str | None = None, task: str = "recon") -> dict:  # noqa: ANN001
    async with asyncio.timeout(15):
        while True:
            response = await client.get(f"/api/v1/leaderboards/{task}", headers=bearer(token) if token else {})
            if response.status_code == 200 and check(response.json()):
                return response.json()
            await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def recon_truth(competition: tuple[Path, Competition]) -> dict[str, np.ndarray]:
    return make_ground_truth(task_of(competition, "recon"))


async def test_scores_become_a_ranked_board_with_goat_shape(
    gateway: AsyncTestClient, admin_token: str, recon_truth: dict
) -> None:
    teams = []
    for noise in (0.2, 0.05, 0.1):
        team_id, name, password = await new_team(gateway, admin_token)
        token = await login(gateway, name, password)
        await submit(gateway, token, npy_zip(noisy_submission(recon_truth, noise, seed=int(noise * 100))))
        teams.append((str(team_id), name, token))
    ids = {t[0] for t in teams}
    board = await board_until(gateway, lambda b: ids <= {e["team_id"] for e in b["public"]})
    mine = [e for e in board["public"] if e["team_id"] in ids]
    assert [e["team_name"] for e in mine] == [teams[1][1], teams[2][1], teams[0][1]]  # least noise first
    assert board["private"] is None and board["private_revealed"] is False  # a team may not see it yet
    goat = (await gateway.get(f"/leaderboard/task1?team_name={teams[2][1]}")).json()
    line = next(e for e in goat if e["team_name"] == teams[2][1])
    assert set(line) >= {"team_name", "score", "rank", "private_score", "details"}
    assert line["highlighted"] is True and line["private_score"] is None
    assert [e["rank"] for e in goat] == list(range(1, len(goat) + 1))


async def test_hide_disqualify_reveal_finals_and_their_audit(
    gateway: AsyncTestClient, admin_token: str, recon_truth: dict
) -> None:
    team_id, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    first = await submit(gateway, token, npy_zip(noisy_submission(recon_truth, 0.01, seed=5)))
    second = await submit(gateway, token, npy_zip(noisy_submission(recon_truth, 0.3, seed=6)))
    team = str(team_id)
    await board_until(gateway, lambda b: team in {e["team_id"] for e in b["public"]})

    forbidden = await gateway.post(f"/api/v1/admin/teams/{team_id}/standing", json={"hidden": True},
                                   headers=bearer(token))
    assert forbidden.status_code == 403
    hidden = await gateway.post(f"/api/v1/admin/teams/{team_id}/standing", json={"hidden": True, "reason": "test"},
                                headers=bearer(admin_token))
    assert hidden.status_code == 200
    await board_until(gateway, lambda b: team not in {e["team_id"] for e in b["public"]})
    await gateway.post(f"/api/v1/admin/teams/{team_id}/standing", json={"hidden": False},
                       headers=bearer(admin_token))
    await board_until(gateway, lambda b: team in {e["team_id"] for e in b["public"]})

    # Finals: the worse submission is chosen, so the private board shows its private score.
    chosen = await gateway.put("/api/v1/tasks/recon/finals", json={"submission_ids": [second["id"]]},
                               headers=bearer(token))
    assert chosen.status_code == 200, chosen.text
    unknown = await gateway.put("/api/v1/tasks/recon/finals", json={"submission_ids": [987654]},
                                headers=bearer(token))
    assert unknown.status_code == 404 and "987654" in unknown.json()["detail"]
    too_many = await gateway.put("/api/v1/tasks/recon/finals", json={"submission_ids": [first["id"], second["id"], 3]},
                                 headers=bearer(token))
    assert too_many.status_code == 422
    admin_view = await board_until(
        gateway, lambda b: any(e["team_id"] == team and e["submission_id"] == second["id"] for e in b["private"]),
        admin_token)
    assert admin_view["private"] is not None
    revealed = await gateway.post("/api/v1/admin/leaderboards/task1/reveal", json={"revealed": True},
                                  headers=bearer(admin_token))
    assert revealed.status_code == 200
    team_view = await board_until(gateway, lambda b: b["private_revealed"], token)
    assert any(e["team_id"] == team for e in team_view["private"])
    await gateway.post("/api/v1/admin/leaderboards/task1/reveal", json={"revealed": False},
                       headers=bearer(admin_token))
    await board_until(gateway, lambda b: not b["private_revealed"], token)

    disqualified = await gateway.post(f"/api/v1/admin/teams/{team_id}/standing", json={"disqualified": True},
                                      headers=bearer(admin_token))
    assert disqualified.status_code == 200
    await board_until(gateway, lambda b: team not in {e["team_id"] for e in b["public"] + (b["private"] or [])},
                      admin_token)
    audit = (await gateway.get("/api/v1/admin/board-audit", headers=bearer(admin_token))).json()
    mine = [a for a in audit if a["target"] == team]
    assert [a["action"] for a in mine][:4] == ["standing", "finals", "standing", "standing"]
    assert all(a["actor"] for a in mine)
    assert (await gateway.get("/api/v1/admin/board-audit", headers=bearer(token))).status_code == 403


async def test_standings_list_each_hidden_or_disqualified_team_with_its_reason(
    gateway: AsyncTestClient, admin_token: str
) -> None:
    team_id, name, password = await new_team(gateway, admin_token)
    team = str(team_id)

    async def standing_until(check) -> dict | None:  # noqa: ANN001
        async with asyncio.timeout(15):
            while True:
                listed = (await gateway.get("/api/v1/admin/standings", headers=bearer(admin_token))).json()
                mine = next((s for s in listed if s["team_id"] == team), None)
                if check(mine):
                    return mine
                await asyncio.sleep(0.1)

    assert await standing_until(lambda mine: mine is None) is None  # a new team stands on every board
    await gateway.post(f"/api/v1/admin/teams/{team_id}/standing", json={"disqualified": True, "reason": "copied"},
                       headers=bearer(admin_token))
    mine = await standing_until(lambda mine: mine is not None)
    assert mine is not None
    assert (mine["hidden"], mine["disqualified"], mine["reason"]) == (False, True, "copied")
    assert mine["changed_by"] == ADMIN[0] and mine["changed_at"]
    # A flag left out keeps what the previous decision set, decided by the service at once (not read back from the
    # boards): hiding a disqualified team keeps it disqualified.
    both = await gateway.post(f"/api/v1/admin/teams/{team_id}/standing", json={"hidden": True},
                              headers=bearer(admin_token))
    assert (both.json()["hidden"], both.json()["disqualified"]) == (True, True), both.text
    await standing_until(lambda mine: mine is not None and mine["hidden"] and mine["disqualified"])
    cleared = await gateway.post(f"/api/v1/admin/teams/{team_id}/standing",
                                 json={"hidden": False, "disqualified": False}, headers=bearer(admin_token))
    assert (cleared.json()["hidden"], cleared.json()["disqualified"]) == (False, False), cleared.text
    await standing_until(lambda mine: mine is None)
    refused = await gateway.get("/api/v1/admin/standings", headers=bearer(await login(gateway, name, password)))
    assert refused.status_code == 403


async def test_finals_are_locked_while_the_private_board_is_revealed_and_once_the_task_closed(
    gateway: AsyncTestClient, admin_token: str, recon_truth: dict
) -> None:
    _, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    chosen = await submit(gateway, token, npy_zip(noisy_submission(recon_truth, 0.1, seed=12)))

    async def choose(task: str = "recon") -> httpx.Response:
        return await gateway.put(f"/api/v1/tasks/{task}/finals", json={"submission_ids": [chosen["id"]]},
                                 headers=bearer(token))

    async def reveal(revealed: bool) -> None:
        response = await gateway.post("/api/v1/admin/leaderboards/recon/reveal", json={"revealed": revealed},
                                      headers=bearer(admin_token))
        assert response.status_code == 200, response.text
        await board_until(gateway, lambda b: b["private_revealed"] is revealed)

    try:
        await reveal(True)
        locked = await choose()
        assert locked.status_code == 409, locked.text
        assert locked.json()["detail"] == "final submissions for task recon are locked: its private board is revealed"
    finally:  # other tests share the task: never leave its private board revealed
        await reveal(False)
    assert (await choose()).status_code == 200  # hidden again (an admin's undo): open again
    closed = await gateway.put("/api/v1/tasks/closed/finals", json={"submission_ids": []}, headers=bearer(token))
    assert closed.status_code == 409, closed.text
    assert closed.json()["detail"] == ("final submissions for task closed are locked: its last phase closed at "
                                       "2020-02-01T00:00:00+00:00")


async def test_csv_export_and_the_board_in_the_past(gateway: AsyncTestClient, admin_token: str, recon_truth: dict
                                                    ) -> None:
    team_id, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    before = datetime.now(UTC)
    await submit(gateway, token, npy_zip(noisy_submission(recon_truth, 0.02, seed=9)))
    await board_until(gateway, lambda b: str(team_id) in {e["team_id"] for e in b["public"]})
    exported = await gateway.get("/api/v1/leaderboards/recon/export.csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert exported.headers["content-type"].startswith("text/csv")
    assert any(r["team_name"] == name for r in rows) and "private_score" not in rows[0]
    admin_rows = list(csv.DictReader(io.StringIO(
        (await gateway.get("/api/v1/leaderboards/recon/export.csv", headers=bearer(admin_token))).text)))
    assert "private_score" in admin_rows[0]
    past = (await gateway.get(f"/api/v1/leaderboards/recon?at={before.isoformat().replace('+00:00', 'Z')}")).json()
    assert str(team_id) not in {e["team_id"] for e in past["public"]}
    assert (await gateway.get("/api/v1/leaderboards/nope")).status_code == 404


async def test_rebuild_from_the_streams_gives_the_identical_board(
    gateway: AsyncTestClient, admin_token: str, recon_truth: dict, auth_service: dict[str, str], stack: EmbeddedStack,
) -> None:
    team_id, name, password = await new_team(gateway, admin_token)
    await submit(gateway, await login(gateway, name, password),
                 npy_zip(noisy_submission(recon_truth, 0.04, seed=11)))
    before = await board_until(gateway, lambda b: str(team_id) in {e["team_id"] for e in b["public"]}, admin_token)
    # The leaderboard service's own command, as its own NATS user (it writes the leaderboards bucket); the
    # competition comes from the bucket, as the service's does.
    own = {key: stack.service_env("leaderboard_service")[key] for key in ("PODIUM_NATS_USER", "PODIUM_NATS_PASSWORD")}
    env = {**auth_service, **own}
    rebuilt = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "leaderboard_service", "rebuild"], env=env, capture_output=True,
        text=True, timeout=120)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt from" in rebuilt.stdout
    after = await board_until(gateway, lambda b: b["revision"] > before["revision"], admin_token)
    assert (after["public"], after["private"]) == (before["public"], before["private"])


async def test_a_team_name_that_is_a_formula_is_exported_as_text(gateway: AsyncTestClient, admin_token: str,
                                                                  recon_truth: dict) -> None:
    """OWASP CSV injection: a participant-chosen name opens as text in a spreadsheet, not as a formula."""
    evil = f'=HYPERLINK("http://evil.example/{uuid.uuid4().hex[:6]}","win")'
    team_id, _, password = await new_team(gateway, admin_token, name=evil)
    await submit(gateway, await login(gateway, evil, password), npy_zip(noisy_submission(recon_truth, 0.03, seed=4)))
    await board_until(gateway, lambda b: str(team_id) in {e["team_id"] for e in b["public"]})
    for headers in ({}, bearer(admin_token)):
        exported = (await gateway.get("/api/v1/leaderboards/recon/export.csv", headers=headers)).text
        row = next(r for r in csv.DictReader(io.StringIO(exported)) if r["team_id"] == str(team_id))
        assert row["team_name"] == "'" + evil
