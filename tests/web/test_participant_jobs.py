"""A participant's whole job on the web page, in a real headless Chromium against the real platform: the quota and
its rule before uploading (the reset in the viewer's local time), a wrong file refused before any quota is spent,
the upload message following the submission to its outcome, cancelling, choosing final submissions, reading the
scorer's log, changing the password, and a second tab of the same browser already signed in."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from playwright.async_api import Page, ViewportSize, expect

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from proto.competition import Competition
from submission_service.store import QUOTA_RULE
from tests.api import bearer, login, new_team
from tests.conftest import task_of
from tests.web.test_web_page import Shoot, api_upload, archive, drop, log_in

pytestmark = pytest.mark.timeout(240)
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}


async def quota_left(gateway: AsyncTestClient, token: str, task: str) -> int:
    response = await gateway.get(f"/api/v1/tasks/{task}/quota", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()["left"]


async def test_the_quota_and_its_rule_show_before_uploading_and_follow_each_outcome(
    page: Page, gateway: AsyncTestClient, admin_token: str, competition: tuple[Path, Competition], tmp_path: Path,
    shoot: Shoot,
) -> None:
    truth = make_ground_truth(task_of(competition, "recon"))  # quota 5 a day
    _, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    await log_in(page, name, password)
    await page.goto("/#/submit/recon")
    quota = page.locator("#quota")
    await expect(quota).to_contain_text("5 of 5 submissions left today")
    await expect(page.locator("#quota-rule")).to_have_text(QUOTA_RULE)
    # The reset (00:00 UTC) in the viewer's own zone, as the browser formats it, with its zone and a 4-digit year.
    resets_at = (await gateway.get("/api/v1/tasks/recon/quota", headers=bearer(token))).json()["resets_at"]
    local = await page.evaluate("""iso => new Date(iso).toLocaleString(undefined, {year: "numeric", month: "2-digit",
        day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"})""", resets_at)
    await expect(quota).to_contain_text(f"resets at {local}")
    assert str(datetime.fromisoformat(resets_at).year) in local
    await page.set_viewport_size(DESKTOP)
    await shoot(page, "submit-1280x800")

    # A scored upload: the message follows it from "queued" to its score, and the quota counts it.
    await drop(page, "#dropzone", archive(tmp_path, "good.zip", noisy_submission(truth, 0.05, seed=41)))
    message = page.locator("#upload-message")
    await expect(message).to_contain_text(re.compile(r"Submission #\d+ is scored: \d+\.\d{3}\."), timeout=60_000)
    await expect(quota).to_contain_text("4 of 5 submissions left today")
    # A failing upload (a sample of the wrong shape): the message says why, the slot comes back (the rule shown).
    first = next(iter(truth))
    wrong = {**truth, first: truth[first][..., :2]}
    await page.set_input_files("#file-input", archive(tmp_path, "wrong.zip", wrong))
    await expect(message).to_contain_text(re.compile(r"Submission #\d+ failed: \S"), timeout=60_000)
    await expect(message).to_have_class("error")
    await expect(quota).to_contain_text("4 of 5 submissions left today")
    assert await quota_left(gateway, token, "recon") == 4


async def test_a_file_of_the_wrong_kind_is_refused_in_the_page_before_any_quota_is_spent(
    page: Page, gateway: AsyncTestClient, admin_token: str, tmp_path: Path,
) -> None:
    _, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    await log_in(page, name, password)
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.method == "POST" else None)
    await page.goto("/#/submit/lab")
    await expect(page.locator("#quota")).to_contain_text("100 of 100")
    notes = tmp_path / "notes.txt"
    notes.write_text("not predictions")
    await page.set_input_files("#file-input", notes)
    message = page.locator("#upload-message")
    await expect(message).to_have_text(re.compile(
        r"^“notes\.txt” is not a ZIP archive \(\.zip\): .+ takes a ZIP archive \(\.zip\)\. Nothing was sent\.$"))
    # A .zip name with a text type is refused too; on a model task a .zip is not a model.
    await drop(page, "#dropzone", notes.rename(tmp_path / "renamed.zip"), mime="text/plain")
    await expect(message).to_contain_text("“renamed.zip” is not a ZIP archive")
    await page.goto("/#/submit/digits")
    await page.set_input_files("#file-input", tmp_path / "renamed.zip")
    await expect(message).to_contain_text("is not an ONNX model (.onnx)")
    assert sent == [] and await quota_left(gateway, token, "lab") == 100
    history = (await gateway.get("/api/v1/submissions", headers=bearer(token))).json()
    assert history == []


async def test_a_team_cancels_a_submission_still_uploading_and_reads_a_scorer_log(
    page: Page, gateway: AsyncTestClient, gateway_url: str, admin_token: str,
    competition: tuple[Path, Competition], shoot: Shoot,
) -> None:
    truth = make_ground_truth(task_of(competition, "lab"))
    _, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    # A presigned upload started and never sent: it waits for its file, cancellable.
    data = npy_zip(truth)
    started = await gateway.post("/api/v1/submissions", headers=bearer(token), json={
        "task_id": "lab", "filename": "pending.zip", "size_bytes": len(data)})
    assert started.status_code == 200, started.text
    pending = started.json()["submission_id"]
    scored = await api_upload(gateway_url, token, "lab", npy_zip(noisy_submission(truth, 0.05, seed=42)))
    await log_in(page, name, password)
    await page.goto("/#/submit/lab")
    await expect(page.locator("#quota")).to_contain_text("98 of 100")
    row = page.locator(f'#my-submissions tr[data-submission="{pending}"]')
    await expect(row).to_have_attribute("data-status", "awaiting_upload")
    await expect(page.locator(f'#my-submissions tr[data-submission="{scored["id"]}"] button.cancel')).to_have_count(0)
    await row.locator("button.cancel").click()
    await expect(row).to_have_attribute("data-status", "cancelled")
    await expect(row.locator("td.reason")).to_contain_text("cancelled by the team")
    await expect(page.locator("#quota")).to_contain_text("99 of 100")

    # The scored one's page: its facts in words, and the scorer's log (the same lines the API gives).
    lines = (await gateway.get(f"/api/v1/submissions/{scored['id']}/logs", headers=bearer(token))).json()["lines"]
    assert lines
    await page.goto(f"/#/submission/{scored['id']}")
    log = page.locator("#scorer-log ol.log li")
    await expect(log).to_have_count(len(lines))
    await expect(log.last.locator(".line")).to_have_text(lines[-1]["line"])
    await expect(page).to_have_title(f"Submission #{scored['id']} · Podium")
    await page.set_viewport_size(DESKTOP)
    await shoot(page, "submission-log-1280x800")
    await page.set_viewport_size(PHONE)
    await shoot(page, "submission-log-390x844")


async def test_a_team_chooses_its_final_submissions(
    page: Page, gateway: AsyncTestClient, gateway_url: str, admin_token: str,
    competition: tuple[Path, Competition],
) -> None:
    truth = make_ground_truth(task_of(competition, "lab"))
    _, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    ids = [(await api_upload(gateway_url, token, "lab", npy_zip(noisy_submission(truth, noise, seed=seed))))["id"]
           for seed, noise in ((43, 0.05), (44, 0.08), (45, 0.1))]
    await log_in(page, name, password)
    # The board counts all three: the leaderboard knows them, so they can be chosen.
    await page.goto("/#/board/lab")
    await expect(page.locator(f'table.board tr[data-team="{name}"] td').nth(5)).to_have_text("3", timeout=30_000)
    await page.goto("/#/submit/lab")
    await expect(page.locator("#finals-rule")).to_contain_text("up to 2 scored ones")
    for submission_id in ids:
        await page.locator(f'tr[data-submission="{submission_id}"] input.final-choice').check()
    await page.click("#save-finals")
    finals = page.locator("#finals-message")
    await expect(finals).to_have_text("at most 2 final submissions for task lab")  # the server's refusal, verbatim
    await expect(finals).to_have_class("error")
    await page.locator(f'tr[data-submission="{ids[2]}"] input.final-choice').uncheck()
    await page.click("#save-finals")
    await expect(finals).to_have_text(f"Saved: #{ids[0]}, #{ids[1]} count on the private board.")
    await page.reload()
    await expect(page.locator(f'tr[data-submission="{ids[1]}"] input.final-choice')).to_be_checked()
    await expect(page.locator(f'tr[data-submission="{ids[2]}"] input.final-choice')).not_to_be_checked()


async def test_a_team_changes_its_password_and_the_rule_comes_from_the_server(
    page: Page, gateway: AsyncTestClient, admin_token: str, shoot: Shoot,
) -> None:
    team_id, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    refused = await gateway.put(f"/api/v1/teams/{team_id}", headers=bearer(token), json={"password": "short"})
    assert refused.status_code in (400, 422), refused.text
    await log_in(page, name, password)
    await page.goto("/#/account")
    await expect(page).to_have_title("Your account · Podium")
    # The rule shows before anyone types, from the server's own rules (not a constant in the page).
    rules = (await gateway.get("/api/v1/auth/rules")).json()
    await expect(page.locator("#password-rule")).to_have_text(f"At least {rules['password_min_length']} characters.")
    await page.fill("#new-password", "short")
    await page.fill("#new-password-again", "short")
    await page.click("#change-password button[type=submit]")
    await expect(page.locator("#password-error")).to_have_text(refused.json()["detail"])
    assert f"shorter than {rules['password_min_length']} characters" in refused.json()["detail"]
    await page.set_viewport_size(DESKTOP)
    await shoot(page, "account-1280x800")

    fresh = f"pw-{uuid.uuid4().hex}"
    await page.fill("#new-password", fresh)
    await page.fill("#new-password-again", fresh)
    await page.click("#change-password button[type=submit]")
    await expect(page.locator("#password-changed")).to_contain_text("Password changed")
    old = await gateway.post("/api/v1/auth/login", json={"name": name, "password": password})
    assert old.status_code == 401
    await login(gateway, name, fresh)
    # Still signed in on this page, with the new login: a signed-in view loads.
    await page.goto("/#/submit/lab")
    await expect(page.locator("#quota")).to_contain_text("of 100 submissions left today")
    await page.set_viewport_size(PHONE)
    await page.goto("/#/account")
    await expect(page.locator("#change-password")).to_be_visible()
    await shoot(page, "account-390x844")


async def test_a_second_tab_is_signed_in_and_tabs_share_one_refresh_rotation(
    page: Page, gateway: AsyncTestClient, admin_token: str,
) -> None:
    _, name, password = await new_team(gateway, admin_token)
    await log_in(page, name, password)
    second = await page.context.new_page()
    await second.goto("/#/qa")
    await expect(second.locator("#logout")).to_be_visible()
    await expect(second.locator("#who")).to_contain_text(name)

    # Both tabs find their access token refused at the same moment and refresh: one at a time, the second with the
    # tokens the first rotated to — a spent refresh token used again would end the whole login.
    await page.evaluate("""() => {
        const stored = JSON.parse(localStorage.getItem("podium.session"));
        localStorage.setItem("podium.session", JSON.stringify({...stored, access_token: "expired"}));
    }""")
    await expect(second.locator("#who")).to_contain_text(name)
    both = """async () => {
        const { api } = await import("/app/api.js");
        return (await api("GET", "/api/v1/auth/me")).name;
    }"""
    assert await asyncio.gather(page.evaluate(both), second.evaluate(both)) == [name, name]
    stored = await second.evaluate("() => JSON.parse(localStorage.getItem('podium.session'))")
    still = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": stored["refresh_token"]})
    assert still.status_code == 200, still.text  # the login's family was never revoked
    await second.reload()
    await expect(second.locator("#who")).to_contain_text(name)

    # Logging out in one tab logs out the other.
    await page.click("#logout")
    await expect(second.locator("#login-name")).to_be_visible()
    await second.close()
