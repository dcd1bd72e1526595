"""Page polish in a real headless Chromium against the real platform: times with their zone and a 4-digit year,
no internal words and numbers that fit their metric, every view at 390 px without sideways scrolling and with a
one-line navigation, WCAG AA contrast of field borders and badges in both colour schemes, a visible focus on the
drop zone, one polite announcement of a rank change (and no live region over the whole page), a title per view
and a caption on every table."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from playwright.async_api import Browser, Page, ViewportSize, expect

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from proto.competition import Competition
from tests.api import login, new_team
from tests.conftest import ADMIN, task_of
from tests.web.test_web_page import Shoot, api_upload, attribute, log_in

pytestmark = pytest.mark.timeout(240)
PHONE: ViewportSize = {"width": 390, "height": 844}

# WCAG 2.1 relative luminance and contrast ratio, computed in the page from Chromium's computed colours.
CONTRAST = """([selector, foreground, background]) => {
    const rgb = (text) => text.match(/[\\d.]+/g).slice(0, 3).map(Number);
    const luminance = ([r, g, b]) => {
        const linear = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
        return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    };
    const opaque = (element) => {  // the first non-transparent background at or above the element
        for (let node = element; node; node = node.parentElement) {
            const colour = getComputedStyle(node).backgroundColor;
            if (!/rgba\\(.*, 0\\)$/.test(colour) && colour !== "transparent") return colour;
        }
        return getComputedStyle(document.body).backgroundColor;
    };
    const element = document.querySelector(selector);
    const style = getComputedStyle(element);
    const front = foreground === "border" ? style.borderTopColor : foreground === "outline" ? style.outlineColor
        : style.color;
    const back = background === "parent" ? opaque(element.parentElement) : opaque(element);
    const [a, b] = [luminance(rgb(front)), luminance(rgb(back))].sort((x, y) => y - x);
    return (a + 0.05) / (b + 0.05);
}"""


@pytest.fixture
async def scored_team(gateway: AsyncTestClient, gateway_url: str, admin_token: str,
                      competition: tuple[Path, Competition]) -> tuple[str, str, dict]:
    truth = make_ground_truth(task_of(competition, "lab"))
    _, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    scored = await api_upload(gateway_url, token, "lab", npy_zip(noisy_submission(truth, 0.05, seed=51)))
    assert scored["status"] == "scored", scored
    return name, password, scored


@pytest.fixture(params=["light", "dark"])
async def themed(request: pytest.FixtureRequest, browser: Browser, gateway_url: str) -> AsyncIterator[Page]:
    context = await browser.new_context(base_url=gateway_url, viewport={"width": 1280, "height": 800},
                                        color_scheme=request.param)
    opened = await context.new_page()
    yield opened
    await context.close()


async def test_times_carry_their_zone_and_a_four_digit_year_and_numbers_fit_their_metric(
    page: Page, scored_team: tuple[str, str, dict],
) -> None:
    name, password, scored = scored_team
    await log_in(page, name, password)
    await page.goto(f"/#/submission/{scored['id']}")
    facts = page.locator("dl.facts").first
    submitted = facts.locator("dt:text-is('Submitted') + dd")
    expected = await page.evaluate("""iso => new Date(iso).toLocaleString(undefined, {year: "numeric",
        month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
        timeZoneName: "short"})""", scored["timestamp"])
    await expect(submitted).to_have_text(expected)
    assert re.search(r"\b\d{4}\b", expected) and re.search(r"(UTC|GMT|[A-Z]{3,4})", expected), expected
    # Counts are integers, scores have the metric's precision, names are words.
    await expect(facts.locator("dt:text-is('Files evaluated') + dd")).to_have_text(
        str(int(scored["metrics"]["files_evaluated"])))
    await expect(facts.locator("dt:text-is('PSNR (public)') + dd")).to_have_text(
        f"{scored['metrics']['psnr_public']:.3f}")
    await expect(facts.locator("dt:text-is('Public score') + dd")).to_have_text(f"{scored['public_score']:.3f}")
    text = await page.locator("main").inner_text()
    for internal in (scored["scorer_version"], "psnr_public", "files_evaluated", "300.0000"):
        assert internal not in text, internal


async def test_no_internal_words_on_the_board_or_the_submissions(
    page: Page, scored_team: tuple[str, str, dict],
) -> None:
    name, password, _ = scored_team
    await log_in(page, name, password)
    await page.goto("/#/board/lab")
    await expect(page.locator(f'table.board tr[data-team="{name}"]')).to_be_visible()
    await expect(page.locator(".board-status")).to_have_text(re.compile(r"^\d+ teams? on the board"))
    await page.goto("/#/submit/lab")
    await expect(page.locator("#my-submissions tr[data-submission]")).to_have_count(1)
    for view in ("/#/board/lab", "/#/submit/lab"):
        await page.goto(view)
        await expect(page.locator("main table tbody tr").first).to_be_visible()
        text = await page.locator("main").inner_text()
        for word in ("Revision", "revision", "seq", "scorer_version", "awaiting_upload", "public_score"):
            assert word not in text, (view, word)


VIEWS = ["/#/tasks", "/#/board/lab", "/#/submit/lab", "/#/qa", "/#/account", "/#/submission/{id}"]
ADMIN_VIEWS = ["/#/admin/teams", "/#/admin/competition", "/#/admin/boards", "/#/admin/audit", "/#/admin/stats"]


async def fits_a_phone(page: Page, path: str) -> None:
    await page.goto(path)
    await expect(page.locator("main h1").first).to_be_visible()
    await expect(page.locator("main .muted:text-is('Loading…')")).to_have_count(0)
    width = await page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], (path, width)
    tops = await page.locator("#nav a").evaluate_all("links => links.map((link) => link.offsetTop)")
    assert tops and len(set(tops)) == 1, (path, tops)  # the navigation takes one line
    header = await page.locator("header.top").evaluate("header => header.getBoundingClientRect().height")
    assert header < 60, (path, header)


async def test_every_view_fits_a_phone_without_sideways_scrolling(
    page: Page, scored_team: tuple[str, str, dict], shoot: Shoot,
) -> None:
    name, password, scored = scored_team
    await page.set_viewport_size(PHONE)
    await log_in(page, name, password)
    for path in VIEWS:
        await fits_a_phone(page, path.format(id=scored["id"]))
    await page.goto("/#/submit/lab")
    await expect(page.locator("#quota")).to_contain_text("left today")
    await shoot(page, "submit-390x844")
    await page.goto("/#/board/lab")
    await expect(page.locator(f'table.board tr[data-team="{name}"]')).to_be_visible()
    await shoot(page, "board-390x844")


async def test_every_admin_view_fits_a_phone(page: Page, gateway: AsyncTestClient, shoot: Shoot) -> None:
    await page.set_viewport_size(PHONE)
    await log_in(page, *ADMIN)
    for path in ADMIN_VIEWS:
        await fits_a_phone(page, path)
    await page.goto("/#/admin/stats")
    await expect(page.locator("#stats")).to_be_visible()
    await shoot(page, "admin-stats-390x844")


async def test_field_borders_and_badges_reach_wcag_aa_in_both_colour_schemes(
    themed: Page, gateway: AsyncTestClient, scored_team: tuple[str, str, dict], admin_token: str, gateway_url: str,
    competition: tuple[Path, Competition],
) -> None:
    name, password, _ = scored_team
    page = themed
    await log_in(page, name, password)
    await page.goto("/#/account")
    for field in ("#new-password", "#new-password-again"):
        assert await page.evaluate(CONTRAST, [field, "border", "self"]) >= 3, field
        assert await page.evaluate(CONTRAST, [field, "border", "parent"]) >= 3, field
    await page.goto("/#/submit/lab")
    await expect(page.locator("#my-submissions .badge.scored")).to_be_visible()
    assert await page.evaluate(CONTRAST, ["#dropzone", "border", "parent"]) >= 3
    # Every badge a submission can wear, drawn with the page's own classes.
    for status in ("scored", "failed", "rejected", "scoring", "received", "awaiting_upload", "expired", "cancelled"):
        await page.evaluate("""status => {
            const badge = document.createElement("span");
            badge.className = `badge ${status}`;
            badge.id = `probe-${status}`;
            badge.textContent = status;
            document.querySelector("#my-submissions td.status").append(badge);
        }""", status)
        assert await page.evaluate(CONTRAST, [f"#probe-{status}", "text", "self"]) >= 4.5, status


async def test_the_drop_zone_shows_keyboard_focus(page: Page, scored_team: tuple[str, str, dict]) -> None:
    name, password, _ = scored_team
    await log_in(page, name, password)
    await page.goto("/#/submit/lab")
    zone = page.locator("#dropzone")
    assert await zone.evaluate("zone => getComputedStyle(zone).outlineStyle") == "none"
    await page.locator(".tabs a").last.focus()
    for _ in range(10):  # tab on until the file input (hidden; its drop zone shows the focus) has it
        if await page.evaluate("() => document.activeElement.id") == "file-input":
            break
        await page.keyboard.press("Tab")
    assert await page.evaluate("() => document.activeElement.id") == "file-input"
    assert await zone.evaluate("zone => getComputedStyle(zone).outlineStyle") == "solid"
    assert await zone.evaluate("zone => parseFloat(getComputedStyle(zone).outlineWidth)") >= 2
    assert await page.evaluate(CONTRAST, ["#dropzone", "outline", "parent"]) >= 3


async def test_a_rank_change_is_announced_once_politely_and_main_is_not_live(
    page: Page, gateway: AsyncTestClient, gateway_url: str, admin_token: str,
    competition: tuple[Path, Competition],
) -> None:
    truth = make_ground_truth(task_of(competition, "recon"))
    _, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    await api_upload(gateway_url, token, "recon", npy_zip(noisy_submission(truth, 0.3, seed=52)))
    await log_in(page, name, password)
    await page.goto("/#/board/recon")
    row = page.locator(f'table.board tr[data-team="{name}"]')
    await expect(row).to_be_visible()
    assert await page.locator("main").get_attribute("aria-live") is None
    live = page.locator("[aria-live]")
    await expect(live).to_have_count(2)  # the notice line and the announcer, nothing else
    announcer = page.locator("#announcer[aria-live=polite]")
    await expect(announcer).to_be_empty()
    before = int(await attribute(row, "data-rank"))
    _, rival, rival_password = await new_team(gateway, admin_token)
    await api_upload(gateway_url, await login(gateway, rival, rival_password), "recon",
                     npy_zip(noisy_submission(truth, 0.01, seed=53)))
    await expect(row).to_have_attribute("data-rank", str(before + 1), timeout=30_000)
    await expect(announcer).to_have_text(f"Your team moved down from rank {before} to rank {before + 1} on "
                                         f"{task_of(competition, 'recon').title}.")
    # Once: a later board push that does not move the team says nothing new (the same text stays, not repeated).
    await page.evaluate("""() => { window.announced = [];
        new MutationObserver(() => window.announced.push(document.getElementById("announcer").textContent))
            .observe(document.getElementById("announcer"), {childList: true, characterData: true, subtree: true}); }""")
    _, third, third_password = await new_team(gateway, admin_token)
    await api_upload(gateway_url, await login(gateway, third, third_password), "recon",
                     npy_zip(noisy_submission(truth, 0.9, seed=54)))
    await expect(page.locator(f'table.board tr[data-team="{third}"]')).to_be_visible(timeout=30_000)
    assert await page.evaluate("() => window.announced") == []


async def test_each_view_has_its_title_and_each_table_a_caption(
    page: Page, scored_team: tuple[str, str, dict],
) -> None:
    name, password, scored = scored_team
    titles = {"/#/tasks": "Tasks · Podium", "/#/board/lab": re.compile(r".+ leaderboard · Podium$"),
              "/#/submit/lab": re.compile(r"^Submit to .+ · Podium$"), "/#/qa": "Questions & answers · Podium",
              "/#/account": "Your account · Podium",
              f"/#/submission/{scored['id']}": f"Submission #{scored['id']} · Podium"}
    await page.goto("/")
    await expect(page).to_have_title("Log in · Podium")
    await log_in(page, name, password)
    for path, title in titles.items():
        await page.goto(path)
        await expect(page).to_have_title(title)
        await expect(page.locator("main h1").first).to_be_visible()
        for table in await page.locator("main table").all():
            await expect(table.locator("caption")).not_to_be_empty()


async def test_each_admin_view_has_its_title_each_table_a_caption_and_no_raw_status(
    page: Page, scored_team: tuple[str, str, dict],
) -> None:
    titles = {"/#/admin/teams": "Teams · Administration · Podium",
              "/#/admin/competition": "Competition · Administration · Podium",
              "/#/admin/boards": "Boards & rescoring · Administration · Podium",
              "/#/admin/audit": "Audit trail · Administration · Podium",
              "/#/admin/stats": "Statistics · Administration · Podium"}
    await log_in(page, *ADMIN)
    for path, title in titles.items():
        await page.goto(path)
        await expect(page).to_have_title(title)
        await expect(page.locator("main h1").first).to_be_visible()
        for table in await page.locator("main table").all():
            await expect(table.locator("caption")).not_to_be_empty()
    # The statistics name statuses in words (a scored submission exists: the by-status list is not empty).
    await expect(page.locator("#stats-by-task caption")).to_have_count(1)
    text = await page.locator("main").inner_text()
    assert "awaiting_upload" not in text and "scored" in text
