"""The boards as anyone sees them, in a real headless Chromium against the real platform: a visitor who is not signed
in watches a board live (and gets no private score, in what it shows or in what its socket receives), the projector
view (large type, live, no private column and no private data even for an admin, even once revealed), and the CSV
link, which exports what its viewer may see."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from playwright.async_api import Page, ViewportSize, WebSocket, expect

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from proto.competition import Competition
from tests.api import bearer, login, new_team
from tests.conftest import ADMIN, task_of
from tests.web.test_web_page import api_upload, log_in

Shoot = Callable[[Page, str], Awaitable[Path]]
pytestmark = pytest.mark.timeout(240)
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}


class Sockets:
    """Every WebSocket the page opens from now on, and every frame it receives on them as (socket URL, text)."""

    def __init__(self, page: Page) -> None:
        self.sockets: list[WebSocket] = []
        self.frames: list[tuple[str, str]] = []
        page.on("websocket", self.opened)

    def opened(self, socket: WebSocket) -> None:
        self.sockets.append(socket)
        socket.on("framereceived", lambda payload: self.frames.append(
            (socket.url, payload if isinstance(payload, str) else payload.decode())))

    async def closed(self, url_end: str) -> None:
        for socket in self.sockets:
            if socket.url.endswith(url_end) and not socket.is_closed():
                await socket.wait_for_event("close")


def private_in(frames: list[tuple[str, str]]) -> list[str]:
    """The frames that carry any part of a private board."""
    found = []
    for _, text in frames:
        message = json.loads(text)
        if message.get("private") or any(key.startswith("private_") and key != "private_revealed" and message[key]
                                         for key in message):
            found.append(text)
    return found


async def set_reveal(gateway: AsyncTestClient, admin_token: str, task: str, revealed: bool) -> None:
    response = await gateway.post(f"/api/v1/admin/leaderboards/{task}/reveal", json={"revealed": revealed},
                                  headers=bearer(admin_token))
    assert response.status_code == 200, response.text


@pytest.fixture
async def scored_team(gateway: AsyncTestClient, gateway_url: str, admin_token: str,
                      competition: tuple[Path, Competition]) -> AsyncIterator[tuple[str, dict]]:
    """A team with a scored submission on `lab` (whose private score differs from its public one)."""
    truth = make_ground_truth(task_of(competition, "lab"))
    _, name, password = await new_team(gateway, admin_token)
    scored = await api_upload(gateway_url, await login(gateway, name, password), "lab",
                              npy_zip(noisy_submission(truth, 0.05, seed=31)))
    assert scored["status"] == "scored"
    yield name, scored


async def rival_scores(gateway: AsyncTestClient, gateway_url: str, admin_token: str,
                       competition: tuple[Path, Competition], seed: int) -> str:
    truth = make_ground_truth(task_of(competition, "lab"))
    _, rival, password = await new_team(gateway, admin_token)
    await api_upload(gateway_url, await login(gateway, rival, password), "lab",
                     npy_zip(noisy_submission(truth, 0.01, seed=seed)))
    return rival


async def test_a_signed_out_visitor_watches_a_board_live_without_private_scores(
    page: Page, gateway: AsyncTestClient, gateway_url: str, admin_token: str, competition: tuple[Path, Competition],
    scored_team: tuple[str, dict], shoot: Shoot,
) -> None:
    name, _ = scored_team
    sockets = Sockets(page)
    await page.goto("/#/board/lab")
    row = page.locator(f'table.board tr[data-team="{name}"]')
    await expect(row).to_be_visible()
    await expect(page.locator("form.login")).to_have_count(0)  # no login asked for
    await expect(page.locator("#login-link")).to_be_visible()
    await expect(page.locator("#nav .submit-link")).to_have_count(0)
    await expect(page.locator("table.board")).not_to_have_class(re.compile(r"\bwith-private\b"))
    await expect(page.locator("table.board th.private-col")).to_be_hidden()

    await page.evaluate("window.sameDocument = true")
    rival = await rival_scores(gateway, gateway_url, admin_token, competition, seed=32)
    await expect(page.locator(f'table.board tr[data-team="{rival}"]')).to_be_visible(timeout=30_000)
    assert await page.evaluate("window.sameDocument === true")  # live, not reloaded
    frames = sockets.frames
    assert frames and all(url.endswith("/ws/boards") for url, _ in frames)  # the anonymous board socket
    assert private_in(frames) == []
    await page.set_viewport_size(DESKTOP)
    await shoot(page, "board-public-1280x800")
    await page.set_viewport_size(PHONE)
    await expect(row).to_be_visible()
    await shoot(page, "board-public-390x844")


async def test_the_projector_shows_no_private_column_or_data_even_to_an_admin_even_revealed(
    page: Page, gateway: AsyncTestClient, gateway_url: str, admin_token: str, competition: tuple[Path, Competition],
    scored_team: tuple[str, dict], shoot: Shoot,
) -> None:
    name, _ = scored_team
    sockets = Sockets(page)
    await log_in(page, *ADMIN)
    await page.goto("/#/board/lab")
    await expect(page.locator("table.board")).to_have_class(re.compile(r"\bwith-private\b"))  # an admin's board
    await page.click("#projector-link")
    await expect(page.locator(f'table.projector-board tr[data-team="{name}"]')).to_be_visible()
    await sockets.closed("/ws")  # the admin's own socket, which carries the private board, is closed
    assert private_in(sockets.frames)  # it did carry it: the check below can see a private board
    since = len(sockets.frames)
    headers = await page.locator("table.projector-board th").all_inner_texts()
    assert [h.strip() for h in headers] == ["#", "", "Team", "Score", "Submissions"]
    await expect(page.locator("header.top")).to_be_hidden()
    await page.set_viewport_size(DESKTOP)
    await shoot(page, "projector-1280x800")

    rival = await rival_scores(gateway, gateway_url, admin_token, competition, seed=33)
    await expect(page.locator(f'table.projector-board tr[data-team="{rival}"]')).to_be_visible(timeout=30_000)
    try:
        await set_reveal(gateway, admin_token, "lab", True)
        third = await rival_scores(gateway, gateway_url, admin_token, competition, seed=34)
        # A score after the reveal reaches the projector: the reveal went by, and still nothing private came.
        await expect(page.locator(f'table.projector-board tr[data-team="{third}"]')).to_be_visible(timeout=30_000)
    finally:  # other tests share the task: never leave its private board revealed
        await set_reveal(gateway, admin_token, "lab", False)
    projector = [(url, text) for url, text in sockets.frames if url.endswith("/ws/boards?private=false")]
    assert projector and private_in(projector) == []
    assert {url for url, _ in sockets.frames[since:]} == {projector[0][0]}  # nothing but the projector's socket
    assert await page.locator("table.projector-board th").count() == 5
    await page.set_viewport_size(PHONE)
    await shoot(page, "projector-390x844")


async def download_csv(page: Page) -> list[dict[str, str]]:
    async with page.expect_download() as waiting:
        await page.click("#board-csv")
    download = await waiting.value
    assert download.suggested_filename == "lab-leaderboard.csv"
    text = await asyncio.to_thread(Path(await download.path()).read_text)
    return list(csv.DictReader(io.StringIO(text)))


async def test_the_csv_link_exports_what_its_viewer_may_see(
    page: Page, gateway: AsyncTestClient, admin_token: str, scored_team: tuple[str, dict],
) -> None:
    name, scored = scored_team
    await page.goto("/#/board/lab")
    await expect(page.locator(f'table.board tr[data-team="{name}"]')).to_be_visible()
    anonymous = await download_csv(page)
    assert "private_score" not in anonymous[0] and any(r["team_name"] == name for r in anonymous)

    await log_in(page, *ADMIN)
    await page.goto("/#/board/lab")
    await expect(page.locator(f'table.board tr[data-team="{name}"]')).to_be_visible()
    admins = await download_csv(page)
    mine = next(r for r in admins if r["team_name"] == name)
    view = (await gateway.get(f"/api/v1/submissions/{scored['id']}", headers=bearer(admin_token))).json()
    assert float(mine["private_score"]) == pytest.approx(view["private_score"])
    assert float(mine["score"]) == pytest.approx(view["public_score"])
