"""A board with several columns in a real headless Chromium against the real platform: one column per header with
its precision, the ranking one marked, kept current by the socket's deltas; the task list states each column's
metric, direction and definition. A visitor's page holds no trace of the hidden column; an admin's shows it."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import nats
import pytest
from nats.aio.client import Client as NatsClient
from playwright.async_api import Page, expect

from podium_runtime.settings import ServiceSettings
from tests.api import edit_competition, remove_tasks
from tests.boards import HIDDEN, board_loaded, columns_board, columns_task_fields, delete_board, line, put_board
from tests.conftest import ADMIN
from tests.web.test_web_page import log_in

Shoot = Callable[[Page, str], Awaitable[Path]]
pytestmark = pytest.mark.timeout(240)


def first(board_key: str, auc: float = 0.91) -> list:
    return [line("901", 1, auc, 0.31, 0.6135), line("902", 2, 0.82, 0.4242, 0.6246)]


@pytest.fixture
async def columns_world(gateway_url: str, admin_token: str, settings: ServiceSettings
                        ) -> AsyncIterator[tuple[str, str, NatsClient]]:
    """(the competition's task with the columns, the key of a board with them, a NATS connection to change it)."""
    task = columns_task_fields(title="Churn prediction")
    board_key = f"cols-{uuid.uuid4().hex[:8]}"  # a key the leaderboard service never writes
    nc = await nats.connect(settings.nats_url, **settings.nats_auth)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60) as client:
        await edit_competition(client, admin_token, lambda competition: competition["tasks"].append(task))
        try:
            await put_board(nc, columns_board(board_key, first(board_key), []))
            await board_loaded(client, board_key, admin_token)
            yield task["id"], board_key, nc
        finally:
            await delete_board(nc, board_key)
            await remove_tasks(client, admin_token, [task["id"]])
            await nc.drain()


async def test_a_visitor_sees_a_column_per_header_with_its_precision_kept_live(
    page: Page, columns_world: tuple[str, str, NatsClient], shoot: Shoot,
) -> None:
    task_id, board_key, nc = columns_world
    await page.goto(f"/#/board/{board_key}")
    row = page.locator('table.board tr[data-team="team 901"]')
    await expect(row.locator('td[data-column="AUC"]')).to_have_text("0.91000")  # 5 decimals
    await expect(row.locator('td[data-column="LogLoss"]')).to_have_text("0.310")  # 3 decimals
    headers = page.locator("table.board th.metric-col")
    assert await headers.evaluate_all("cells => cells.map((c) => c.dataset.column)") == ["AUC", "LogLoss"]
    await expect(page.locator("table.board th.metric-col.primary")).to_have_text("AUC ★")
    await expect(page.locator("table.board th.metric-col.primary")).to_have_attribute(
        "title", "roc_auc, higher is better, ranks the board")
    await page.evaluate("window.sameDocument = true")
    await put_board(nc, columns_board(board_key, first(board_key, auc=0.97), []))
    await expect(row.locator('td[data-column="AUC"]')).to_have_text("0.97000", timeout=30_000)
    assert await page.evaluate("window.sameDocument === true")  # live, not reloaded
    assert HIDDEN not in await page.content()
    await shoot(page, "board-columns-1280x900")

    await page.goto("/#/tasks")
    card = page.locator(f'article[data-task="{task_id}"]')
    await expect(card.locator('.task-columns li[data-column="AUC"]')).to_contain_text(
        "AUC (roc_auc, higher is better, ranks the board, 5 decimals): Area under the ROC curve")
    await expect(card.locator('.task-columns li[data-column="LogLoss"]')).to_contain_text(
        "(log_loss, lower is better, breaks ties, 3 decimals)")
    await expect(card.locator(".task-columns li")).to_have_count(2)
    assert HIDDEN not in await page.content()


async def test_an_admin_sees_the_hidden_column_on_the_board_and_in_the_task_list(
    page: Page, columns_world: tuple[str, str, NatsClient],
) -> None:
    task_id, board_key, _ = columns_world
    await log_in(page, *ADMIN)
    await page.goto(f"/#/board/{board_key}")
    hidden = page.locator(f'table.board th.metric-col[data-column="{HIDDEN}"]')
    await expect(hidden).to_have_class(re.compile(r"\bhidden-col\b"))
    await expect(page.locator(f'table.board tr[data-team="team 902"] td[data-column="{HIDDEN}"]')).to_have_text(
        "0.6246")
    await page.goto("/#/tasks")
    await expect(page.locator(f'article[data-task="{task_id}"] .task-columns li[data-column="{HIDDEN}"]')
                 ).to_contain_text("hidden: hosts only")
