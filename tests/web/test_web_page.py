"""The web page in a real headless Chromium against the real platform (gateway process, auth, submissions,
scorers, leaderboard; NATS, PostgreSQL, S3), used as a new team and as a host would use it."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import numpy as np
import pytest
from litestar.testing import AsyncTestClient
from playwright.async_api import Locator, Page, expect

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from proto.competition import Competition
from tests.api import bearer, login, new_team
from tests.conftest import ADMIN, task_of
from tests.onnx_models import baseline_weights, linear_model, to_bytes

Shoot = Callable[[Page, str], Awaitable[Path]]
pytestmark = pytest.mark.timeout(240)


async def log_in(page: Page, name: str, password: str) -> None:
    await page.goto("/")
    await page.fill("#login-name", name)
    await page.fill("#login-password", password)
    await page.click("form.login button[type=submit]")
    await expect(page.locator("#logout")).to_be_visible()


async def drop(page: Page, selector: str, path: Path, mime: str = "application/zip") -> None:
    """Drag a file from the desktop onto the page: a drop event carrying it in a DataTransfer."""
    content = base64.b64encode(await asyncio.to_thread(path.read_bytes)).decode()
    transfer = await page.evaluate_handle(
        """([name, data, type]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type }));
            return transfer;
        }""", [path.name, content, mime])
    for event in ("dragenter", "dragover", "drop"):
        await page.dispatch_event(selector, event, {"dataTransfer": transfer})


def archive(tmp_path: Path, name: str, arrays: dict[str, np.ndarray]) -> Path:
    path = tmp_path / name
    path.write_bytes(npy_zip(arrays))
    return path


async def api_upload(gateway_url: str, token: str, task: str, content: bytes, name: str = "s.zip") -> dict:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=90) as client:
        response = await client.post(f"/api/v1/tasks/{task}/submissions?wait=60", headers=bearer(token),
                                     files={"file": (name, content)})
    assert response.status_code == 200, response.text
    return response.json()


async def attribute(locator: Locator, name: str) -> str:
    """An attribute the page sets on the element (its absence fails the test)."""
    value = await locator.get_attribute(name)
    assert value is not None, f"no {name} on {locator}"
    return value


def row_rank(page: Page, team: str) -> Awaitable[str]:
    return attribute(page.locator(f'table.board tr[data-team="{team}"]'), "data-rank")


async def test_a_wrong_password_shows_the_servers_reason(page: Page, gateway: AsyncTestClient, shoot: Shoot) -> None:
    refused = await gateway.post("/api/v1/auth/login", json={"name": ADMIN[0], "password": "not-it"})
    assert refused.status_code == 401
    await page.goto("/")
    await page.fill("#login-name", ADMIN[0])
    await page.fill("#login-password", "not-it")
    await page.click("form.login button[type=submit]")
    await expect(page.locator("form.login .error")).to_have_text(refused.json()["detail"])
    await shoot(page, "01-login-refused")


async def test_a_new_team_uploads_watches_its_score_and_the_board_reorders_live(
    page: Page, gateway: AsyncTestClient, gateway_url: str, admin_token: str, competition: tuple[Path, Competition],
    tmp_path: Path, shoot: Shoot,
) -> None:
    truth = make_ground_truth(task_of(competition, "recon"))
    _, name, password = await new_team(gateway, admin_token)
    await log_in(page, name, password)

    await page.goto("/#/submit/recon")
    await expect(page.locator("#dropzone")).to_be_visible()
    await shoot(page, "02-submit")
    await drop(page, "#dropzone", archive(tmp_path, "predictions.zip", noisy_submission(truth, 0.05, seed=1)))
    await expect(page.locator("#upload-message")).to_contain_text("directly to storage")
    bar = page.locator("#upload-progress")
    assert int(await bar.get_attribute("data-events") or 0) >= 1  # the browser reported upload progress
    assert await bar.evaluate("bar => bar.value === bar.max && bar.max > 0")
    row = page.locator("#my-submissions tr[data-submission]").first
    await expect(row).to_have_attribute("data-status", "scored", timeout=60_000)
    await expect(row.locator("td.score")).to_have_text(re.compile(r"^\d+\.\d+$"))
    score = float(await row.locator("td.score").inner_text())
    submission_id = int(await attribute(row, "data-submission"))
    token = await login(gateway, name, password)
    mine = (await gateway.get(f"/api/v1/submissions/{submission_id}", headers=bearer(token))).json()
    assert mine["status"] == "scored" and score == pytest.approx(mine["public_score"], abs=1e-3)
    await shoot(page, "03-submissions-scored")

    # The board, then a better team scores (through the API): the rows re-order without a reload.
    await page.goto("/#/board/recon")
    await expect(page.locator(f'table.board tr[data-team="{name}"]')).to_be_visible()
    await page.evaluate("window.sameDocument = true")
    _, rival, rival_password = await new_team(gateway, admin_token)
    rival_token = await login(gateway, rival, rival_password)
    mine_before = int(await row_rank(page, name))
    await api_upload(gateway_url, rival_token, "recon", npy_zip(noisy_submission(truth, 0.01, seed=2)))
    rival_row = page.locator(f'table.board tr[data-team="{rival}"]')
    await expect(rival_row).to_be_visible(timeout=30_000)
    assert int(await attribute(rival_row, "data-rank")) < int(await row_rank(page, name))
    assert int(await row_rank(page, name)) == mine_before + 1
    await expect(page.locator(f'table.board tr[data-team="{name}"]')).to_have_class(re.compile(r"\bmoved-down\b"))
    assert await page.evaluate("window.sameDocument === true")  # live, not reloaded
    await shoot(page, "04-leaderboard-live")


async def test_without_a_reachable_storage_the_upload_goes_through_the_gateway(
    page: Page, gateway: AsyncTestClient, admin_token: str, competition: tuple[Path, Competition], tmp_path: Path,
) -> None:
    """Object storage not published to browsers (or no CORS rule): the presigned PUT fails, the started submission
    is cancelled (its quota comes back) and the same file is uploaded through the gateway, with progress."""
    truth = make_ground_truth(task_of(competition, "lab"))
    _, name, password = await new_team(gateway, admin_token)
    await log_in(page, name, password)
    await page.route(re.compile(r"X-Amz-Signature="), lambda route: route.abort("connectionrefused"))
    await page.goto("/#/submit/lab")
    await page.set_input_files("#file-input", archive(tmp_path, "predictions.zip", noisy_submission(truth, 0.05)))
    await expect(page.locator("#upload-message")).to_contain_text("through the gateway")
    assert int(await page.locator("#upload-progress").get_attribute("data-events") or 0) >= 1
    await expect(page.locator("#my-submissions tr[data-submission]").first).to_have_attribute(
        "data-status", "scored", timeout=60_000)
    token = await login(gateway, name, password)
    history = (await gateway.get("/api/v1/submissions?task_id=lab", headers=bearer(token))).json()
    assert sorted(s["status"] for s in history) == ["cancelled", "scored"]


async def test_a_bad_archive_shows_the_readable_failure_reason(
    page: Page, gateway: AsyncTestClient, admin_token: str, competition: tuple[Path, Competition], tmp_path: Path,
    shoot: Shoot,
) -> None:
    truth = make_ground_truth(task_of(competition, "lab"))
    wrong = {sample: np.zeros((2, 2), dtype=np.float32) if i == 3 else array
             for i, (sample, array) in enumerate(truth.items())}
    _, name, password = await new_team(gateway, admin_token)
    await log_in(page, name, password)
    await page.goto("/#/submit/lab")
    await page.set_input_files("#file-input", archive(tmp_path, "wrong-shape.zip", wrong))
    row = page.locator("#my-submissions tr[data-submission]").first
    await expect(row).to_have_attribute("data-status", "failed", timeout=60_000)
    token = await login(gateway, name, password)
    submission = (await gateway.get(f"/api/v1/submissions/{await row.get_attribute('data-submission')}",
                                    headers=bearer(token))).json()
    assert submission["reason"]
    await expect(row.locator("td.reason")).to_have_text(submission["reason"])
    await shoot(page, "05-failure-reason")


async def test_details_show_the_psnr_histogram_and_the_confusion_matrix(
    page: Page, gateway: AsyncTestClient, gateway_url: str, admin_token: str,
    competition: tuple[Path, Competition], shoot: Shoot,
) -> None:
    truth = make_ground_truth(task_of(competition, "lab"))
    _, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    scored = await api_upload(gateway_url, token, "lab", npy_zip(noisy_submission(truth, 0.04, seed=5)))
    model = await api_upload(gateway_url, token, "digits", to_bytes(linear_model(*baseline_weights())), "model.onnx")
    assert (scored["status"], model["status"]) == ("scored", "scored")
    samples = (await gateway.get(f"/api/v1/submissions/{scored['id']}/details", headers=bearer(token))
               ).json()["details"]["samples"]
    await log_in(page, name, password)

    await page.goto(f"/#/submission/{scored['id']}")
    histogram = page.locator("svg.histogram")
    await expect(histogram).to_have_attribute("data-values", str(len(samples)))
    counts = [int(c) for c in await histogram.locator("rect.bar").evaluate_all(
        "bars => bars.map((bar) => bar.dataset.count)")]
    assert len(counts) >= 2 and sum(counts) == len(samples)
    await expect(page.locator("table.samples tbody tr")).to_have_count(len(samples))
    await shoot(page, "06-details-psnr")

    await page.goto(f"/#/submission/{model['id']}")
    confusion = (await gateway.get(f"/api/v1/submissions/{model['id']}/details", headers=bearer(token))
                 ).json()["details"]["public"]["confusion"]
    matrix = page.locator("svg.confusion")
    await expect(matrix).to_have_attribute("data-classes", "10")
    cells = await matrix.locator("g.cell").evaluate_all("cells => cells.map((c) => Number(c.dataset.count))")
    assert cells == [count for row in confusion for count in row]
    await shoot(page, "07-details-confusion")


async def test_a_binary_task_draws_its_roc_curve(page: Page, gateway: AsyncTestClient, admin_token: str,
                                               gateway_url: str, competition: tuple[Path, Competition]) -> None:
    """No binary task in the tests' competition: the details answer is replaced by a binary one in the browser."""
    truth = make_ground_truth(task_of(competition, "lab"))
    _, name, password = await new_team(gateway, admin_token)
    scored = await api_upload(gateway_url, await login(gateway, name, password), "lab",
                              npy_zip(noisy_submission(truth, 0.04, seed=6)))
    points = [[0.0, 0.0], [0.1, 0.6], [0.3, 0.9], [1.0, 1.0]]
    await page.route(f"**/api/v1/submissions/{scored['id']}/details", lambda route: route.fulfill(json={
        "submission_id": scored["id"], "details": {"public": {
            "accuracy": 0.9, "top_k": 1.0, "macro_f1": 0.88, "confusion": [[40, 5], [4, 51]], "roc_auc": 0.93,
            "roc_points": points}}}))
    await log_in(page, name, password)
    await page.goto(f"/#/submission/{scored['id']}")
    await expect(page.locator("svg.roc")).to_have_attribute("data-points", str(len(points)))
    await expect(page.locator("svg.confusion g.cell")).to_have_count(4)


async def test_a_team_asks_and_the_answer_appears_live(
    page: Page, gateway: AsyncTestClient, admin_token: str,
) -> None:
    _, name, password = await new_team(gateway, admin_token)
    await log_in(page, name, password)
    await page.goto("/#/qa")
    title = f"Are pretrained weights allowed? {uuid.uuid4().hex[:6]}"
    await page.fill("#question-title", title)
    await page.fill("#question-content", "For the model task.")
    await page.click("form.card button[type=submit]")
    card = page.locator("article.question", has_text=title)
    await expect(card).to_be_visible()
    question_id = await card.get_attribute("data-question")
    await page.evaluate("window.sameDocument = true")
    answered = await gateway.put(f"/api/v1/qa/questions/{question_id}", headers=bearer(admin_token),
                                 json={"answer": "Yes, if their licence allows it."})
    assert answered.status_code == 200, answered.text
    await expect(card.locator(".answer-text")).to_have_text("Yes, if their licence allows it.")
    assert await page.evaluate("window.sameDocument === true")


async def test_an_admin_creates_imports_answers_reveals_rescores_and_sees_stats(
    page: Page, gateway: AsyncTestClient, gateway_url: str, admin_token: str,
    competition: tuple[Path, Competition], shoot: Shoot,
) -> None:
    truth = make_ground_truth(task_of(competition, "lab"))
    _, team, team_password = await new_team(gateway, admin_token)
    team_token = await login(gateway, team, team_password)
    scored = await api_upload(gateway_url, team_token, "lab", npy_zip(noisy_submission(truth, 0.06, seed=7)))
    asked = (await gateway.post("/api/v1/qa/questions", headers=bearer(team_token), json={
        "title": f"Deadline? {uuid.uuid4().hex[:6]}", "content": "When does <b>phase 1</b> close?"})).json()
    await log_in(page, *ADMIN)

    # Teams: one from the form, two from a CSV (one refused, with its reason).
    await page.goto("/#/admin/teams")
    created = f"web-{uuid.uuid4().hex[:8]}"
    await page.fill("#team-name", created)
    await page.fill("#team-password", "a-good-password")
    await page.click("#create-team button[type=submit]")
    await expect(page.locator("#team-created")).to_contain_text(created)
    await expect(page.locator(f'#teams tr[data-team="{created}"]')).to_be_visible()
    imported = f"csv-{uuid.uuid4().hex[:8]}"
    await page.fill("#teams-csv", f"name,password\n{imported},pw-{uuid.uuid4().hex}\n{created},again\n")
    await page.click("#import-teams button[type=submit]")
    report = page.locator("#import-report")
    await expect(report.locator("tr.created")).to_have_count(1)
    await expect(report.locator("tr.refused")).to_have_count(1)
    await expect(report.locator("tr.refused td").last).not_to_be_empty()
    await expect(page.locator(f'#teams tr[data-team="{imported}"]')).to_be_visible()
    await shoot(page, "08-admin-teams")

    # Q&A: the team's question (its markup shown as text), answered here.
    await page.goto("/#/qa")
    card = page.locator(f'article[data-question="{asked["id"]}"]')
    await expect(card.locator(".content")).to_have_text("When does <b>phase 1</b> close?")
    await card.locator("textarea.answer-input").fill("On 1 December, 12:00 UTC.")
    await card.locator(".answer-form button[type=submit]").click()
    await expect(card.locator(".answer-text")).to_have_text("On 1 December, 12:00 UTC.")
    answered = (await gateway.get(f"/api/v1/qa/questions/{asked['id']}", headers=bearer(team_token))).json()
    assert answered["answer"] == "On 1 December, 12:00 UTC."
    await shoot(page, "09-admin-qa")

    # Boards: reveal the private board (then hide it again: other tests share the task), rescore with the diff.
    try:
        await page.goto("/#/admin/boards")
        lab = page.locator('article[data-task="lab"]')
        await expect(lab.locator("button.reveal")).to_have_text("Reveal the private board")
        await lab.locator("button.reveal").click()
        await expect(lab.locator(".reveal-state")).to_have_text("Private board revealed to everyone.")
        async with asyncio.timeout(10):  # this client's gateway has its own copy of the boards, a moment behind
            while not (board := (await gateway.get("/api/v1/leaderboards/lab", headers=bearer(team_token))).json()
                       )["private_revealed"]:
                await asyncio.sleep(0.1)
        assert board["private"] is not None
        await page.select_option("#rescore-task", "lab")
        await page.fill("#rescore-ids", str(scored["id"]))
        await page.click("#rescore button[type=submit]")
        summary = page.locator("#rescore-report .rescore-summary")
        await expect(summary).to_contain_text("1 of 1 rescored", timeout=60_000)
        await expect(page.locator(f'#rescore-report tr[data-team="{team}"]')).to_be_visible()
        await shoot(page, "10-admin-boards-rescore")
        await lab.locator("button.reveal").click()
        await expect(lab.locator(".reveal-state")).to_have_text("Private board hidden from teams.")
    finally:  # other tests share the task: never leave its private board revealed
        await gateway.post("/api/v1/admin/leaderboards/lab/reveal", json={"revealed": False},
                           headers=bearer(admin_token))

    await page.goto("/#/admin/stats")
    teams = (await gateway.get("/api/v1/admin/stats", headers=bearer(admin_token))).json()["teams"]
    await expect(page.locator('#stats dd[data-stat="teams"]')).to_have_text(str(teams))
    await expect(page.locator("#stats-by-task tbody tr", has_text="lab")).to_be_visible()
    await shoot(page, "11-admin-stats")
