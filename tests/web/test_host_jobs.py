"""The host's whole job on the web page, in a real headless Chromium against the real platform: create a team seeing
the password rule first and each error under its field, each team's standing (hide, disqualify), edit, disable,
reset the password of and delete a team, the audit trail with its filters, and the private board's reveal and hiding
reaching open board pages live."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from playwright.async_api import Browser, Page, ViewportSize, expect

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from proto.competition import Competition
from tests.api import bearer, login, new_team
from tests.conftest import ADMIN, task_of
from tests.web.test_web_page import api_upload, log_in

Shoot = Callable[[Page, str], Awaitable[Path]]
pytestmark = pytest.mark.timeout(240)
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}


async def both_sizes(page: Page, shoot: Shoot, name: str) -> None:
    await page.set_viewport_size(DESKTOP)
    await shoot(page, f"{name}-1280x800")
    await page.set_viewport_size(PHONE)
    await shoot(page, f"{name}-390x844")
    await page.set_viewport_size(DESKTOP)


@pytest.fixture
async def second_page(browser: Browser, gateway_url: str) -> AsyncIterator[Page]:
    """Another browser (its own session), failing the test on any script error like `page`."""
    context = await browser.new_context(base_url=gateway_url, viewport=DESKTOP)
    context.set_default_timeout(30_000)
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    await context.close()
    assert not errors, f"errors on the page: {errors}"


def team_row(page: Page, name: str):  # noqa: ANN201
    return page.locator(f'#teams tr[data-team="{name}"]')


async def open_editor(page: Page, name: str) -> None:
    await team_row(page, name).locator("button.edit").click()
    await expect(page.locator("#team-editor")).to_have_attribute("data-team", name)


async def test_creating_a_team_shows_the_password_rule_first_and_each_error_under_its_field(
    page: Page, gateway: AsyncTestClient, admin_token: str, shoot: Shoot,
) -> None:
    rules = (await gateway.get("/api/v1/auth/rules")).json()
    _, existing, _ = await new_team(gateway, admin_token)
    await log_in(page, *ADMIN)
    await page.goto("/#/admin/teams")
    await expect(page.locator("#team-password-rule")).to_have_text(
        f"At least {rules['password_min_length']} characters (at most {rules['password_max_length']}).")
    await page.fill("#team-name", existing)
    await page.fill("#team-password", "x" * (rules["password_min_length"] - 1))
    await page.click("#create-team button[type=submit]")
    name_error = page.locator("#team-name + p.error")
    password_error = page.locator("#team-password + p.error")
    await expect(name_error).to_have_text(f"an account named {existing!r} already exists")
    await expect(password_error).to_have_text(f"password is shorter than {rules['password_min_length']} characters")
    await both_sizes(page, shoot, "admin-create-team-errors")

    fresh = f"web-{uuid.uuid4().hex[:8]}"
    await page.fill("#team-name", fresh)
    await page.fill("#team-password", "a-good-password")
    await page.click("#create-team button[type=submit]")
    await expect(page.locator("#team-created")).to_contain_text(fresh)
    await expect(name_error).to_be_hidden()
    await expect(password_error).to_be_hidden()
    await expect(team_row(page, fresh)).to_be_visible()


async def test_the_host_hides_and_disqualifies_a_team_and_sees_each_teams_standing(
    page: Page, gateway: AsyncTestClient, gateway_url: str, admin_token: str, competition: tuple[Path, Competition],
    shoot: Shoot,
) -> None:
    truth = make_ground_truth(task_of(competition, "lab"))
    team_id, name, password = await new_team(gateway, admin_token)
    await api_upload(gateway_url, await login(gateway, name, password), "lab",
                     npy_zip(noisy_submission(truth, 0.05, seed=41)))
    await log_in(page, *ADMIN)
    await page.goto("/#/board/lab")
    await expect(page.locator(f'table.board tr[data-team="{name}"]')).to_be_visible()

    await page.goto("/#/admin/teams")
    standing = team_row(page, name).locator("td.standing")
    await expect(standing).to_have_text("")
    await open_editor(page, name)
    await page.check("#edit-hidden")
    await page.fill("#edit-reason", "shared an account")
    await page.click(".edit-standing button[type=submit]")
    await expect(page.locator("#teams-status")).to_have_text(f"{name} is hidden from the public boards.")
    await expect(standing).to_have_text("hidden")
    await expect(standing).to_have_attribute("title", "shared an account")
    await both_sizes(page, shoot, "admin-teams")

    await open_editor(page, name)
    await expect(page.locator("#edit-hidden")).to_be_checked()
    await page.check("#edit-disqualified")
    await page.click(".edit-standing button[type=submit]")
    await expect(standing).to_have_text("disqualified")
    await page.goto("/#/board/lab")
    await expect(page.locator(".board-status")).to_have_text(re.compile(r"^(\d+ teams? on the board|No scores yet\.)"))
    await expect(page.locator(f'table.board tr[data-team="{name}"]')).to_have_count(0)
    listed = (await gateway.get("/api/v1/admin/standings", headers=bearer(admin_token))).json()
    assert {"team_id": str(team_id), "hidden": True, "disqualified": True,
            "reason": "shared an account"}.items() <= next(s for s in listed if s["team_id"] == str(team_id)).items()

    await page.goto("/#/admin/teams")
    await open_editor(page, name)
    await page.uncheck("#edit-hidden")
    await page.uncheck("#edit-disqualified")
    await page.click(".edit-standing button[type=submit]")
    await expect(page.locator("#teams-status")).to_have_text(f"{name} is on every board.")
    await expect(standing).to_have_text("")
    await page.goto("/#/board/lab")
    await expect(page.locator(f'table.board tr[data-team="{name}"]')).to_be_visible()


async def test_the_host_edits_disables_resets_the_password_of_and_deletes_a_team(
    page: Page, gateway: AsyncTestClient, admin_token: str, shoot: Shoot,
) -> None:
    team_id, name, password = await new_team(gateway, admin_token)
    await log_in(page, *ADMIN)
    await page.goto("/#/admin/teams")
    await open_editor(page, name)
    renamed = f"{name}-x"
    await page.fill("#edit-name", renamed)
    await page.fill("#edit-members", "Ada Lovelace <ada@example.org>; Alan Turing")
    await page.fill("#edit-max-size", "3")
    await both_sizes(page, shoot, "admin-team-editor")
    await page.click(".edit-details button[type=submit]")
    row = team_row(page, renamed)
    await expect(row.locator("td.members")).to_have_text("Ada Lovelace <ada@example.org>; Alan Turing")
    await expect(row.locator("td.max-size")).to_have_text("3")
    team = (await gateway.get(f"/api/v1/teams/{team_id}", headers=bearer(admin_token))).json()
    emails = [m["email"] for m in team["members"]]
    assert (team["name"], team["max_size"], emails) == (renamed, 3, ["ada@example.org", ""])

    # A bad member list: the server's reason, and nothing changed.
    await open_editor(page, renamed)
    await page.fill("#edit-members", "A; B; C; D")
    await page.click(".edit-details button[type=submit]")
    await expect(page.locator("#team-editor p.error")).to_have_text("4 members, but this team may have at most 3")

    await page.click("#edit-disable")
    await expect(row.locator("td.state")).to_have_text("disabled")
    refused = await gateway.post("/auth/login", json={"name": renamed, "password": password})
    assert refused.status_code == 401
    await open_editor(page, renamed)
    await expect(page.locator("#edit-disable")).to_have_text("Enable the team")
    await page.click("#edit-disable")
    await expect(row.locator("td.state")).to_have_text("")

    await open_editor(page, renamed)
    await page.fill("#edit-password", "short")
    await page.click(".edit-password button[type=submit]")
    await expect(page.locator("#team-editor p.error")).to_have_text("password is shorter than 8 characters")
    await page.fill("#edit-password", "a-brand-new-password")
    await page.click(".edit-password button[type=submit]")
    await expect(page.locator("#teams-status")).to_contain_text(f"New password set for {renamed}")
    assert (await gateway.post("/auth/login", json={"name": renamed, "password": password})).status_code == 401
    await login(gateway, renamed, "a-brand-new-password")

    await open_editor(page, renamed)
    await expect(page.locator("#edit-delete-confirm")).to_be_hidden()
    await page.click("#edit-delete")
    await page.click("#edit-delete-confirm")
    await expect(page.locator("#teams-status")).to_have_text(f"Team {renamed} deleted")
    await expect(row).to_have_count(0)
    assert (await gateway.get(f"/api/v1/teams/{team_id}", headers=bearer(admin_token))).status_code == 404


async def test_the_host_reads_the_audit_trail_with_its_filters(
    page: Page, gateway: AsyncTestClient, admin_token: str, shoot: Shoot,
) -> None:
    team_id, name, _ = await new_team(gateway, admin_token)
    hidden = await gateway.post(f"/api/v1/admin/teams/{team_id}/standing", json={"hidden": True, "reason": "audit"},
                                headers=bearer(admin_token))
    assert hidden.status_code == 200
    async with asyncio.timeout(30):  # the trail is written as the leaderboard reads the events
        while len((await gateway.get(f"/api/v1/admin/audit?target={team_id}", headers=bearer(admin_token))).json()
                  ) < 2:
            await asyncio.sleep(0.1)
    await log_in(page, *ADMIN)
    await page.goto("/#/admin/audit")
    await expect(page.locator("#audit tbody tr").first).to_be_visible()
    await page.fill("#audit-target", str(team_id))
    await page.click("#audit-filters button[type=submit]")
    rows = page.locator("#audit tbody tr")
    await expect(rows).to_have_count(2)
    assert await rows.evaluate_all("rows => rows.map((row) => row.dataset.action)") == ["standing", "team_created"]
    await expect(rows.first.locator("td.actor")).to_have_text(ADMIN[0])
    await expect(rows.first.locator("td.detail")).to_contain_text("reason: audit")
    await both_sizes(page, shoot, "admin-audit")

    await page.select_option("#audit-action", "team_created")
    await page.click("#audit-filters button[type=submit]")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-action", "team_created")
    await page.select_option("#audit-action", "")
    await page.fill("#audit-by", "nobody-at-all")
    await page.click("#audit-filters button[type=submit]")
    await expect(page.locator("#audit-summary")).to_have_text("0 entries, newest first")
    await page.fill("#audit-by", ADMIN[0])
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).astimezone().strftime("%Y-%m-%dT%H:%M:%S")
    await page.fill("#audit-since", tomorrow)
    await page.click("#audit-filters button[type=submit]")
    await expect(page.locator("#audit-summary")).to_have_text("0 entries, newest first")
    await page.fill("#audit-since", "")
    await page.fill("#audit-limit", "1")
    await page.click("#audit-filters button[type=submit]")
    await expect(page.locator("#audit-summary")).to_have_text("1 entry, newest first")
    await expect(rows).to_have_count(1)


async def test_open_board_pages_gain_and_lose_the_private_column_live_on_reveal_and_hide(
    page: Page, second_page: Page, gateway: AsyncTestClient, gateway_url: str, admin_token: str,
    competition: tuple[Path, Competition], shoot: Shoot,
) -> None:
    """The host reveals and hides the private board on the admin page; a team's open board page (and a visitor's)
    shows the private column with the private scores at the reveal and loses it at the hiding, without a reload."""
    truth = make_ground_truth(task_of(competition, "lab"))
    _, name, password = await new_team(gateway, admin_token)
    scored = await api_upload(gateway_url, await login(gateway, name, password), "lab",
                              npy_zip(noisy_submission(truth, 0.05, seed=42)))
    private = (await gateway.get(f"/api/v1/submissions/{scored['id']}", headers=bearer(admin_token))
               ).json()["private_score"]
    await log_in(page, *ADMIN)
    await log_in(second_page, name, password)
    await second_page.goto("/#/board/lab")
    table = second_page.locator("table.board")
    cell = second_page.locator(f'table.board tr[data-team="{name}"] td.private-col')
    await expect(cell).to_be_hidden()
    await second_page.evaluate("window.sameDocument = true")

    try:
        await page.goto("/#/admin/boards")
        lab = page.locator('article[data-task="lab"]')
        await expect(lab.locator("button.reveal")).to_have_text("Reveal the private board")
        await lab.locator("button.reveal").click()
        await expect(table).to_have_class(re.compile(r"\bwith-private\b"), timeout=15_000)
        await expect(cell).to_be_visible()
        await expect(cell).to_have_text(f"{private:.3f}")
        await expect(second_page.locator(".board-status")).to_contain_text("private board revealed")
        await shoot(second_page, "board-revealed-team-1280x800")
        await expect(lab.locator(".reveal-state")).to_have_text("Private board revealed to everyone.")
        await lab.locator("button.reveal").click()
        await expect(table).not_to_have_class(re.compile(r"\bwith-private\b"), timeout=15_000)
        await expect(cell).to_be_hidden()
        await expect(cell).to_have_text("–")  # not merely hidden: the private scores are gone from the page
        await expect(second_page.locator(".board-status")).not_to_contain_text("private board revealed")
    finally:  # other tests share the task: never leave its private board revealed
        await gateway.post("/api/v1/admin/leaderboards/lab/reveal", json={"revealed": False},
                           headers=bearer(admin_token))
    assert await second_page.evaluate("window.sameDocument === true")  # live, never reloaded
