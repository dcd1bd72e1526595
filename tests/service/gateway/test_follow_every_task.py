"""The web page follows every task's board on one socket, and the board it shows (which may be one the task list
does not name): a competition with more tasks than the socket's base limit (32) is followed whole, each board
arriving, with nothing refused — over the gateway as its own process, real NATS, submission_service and
leaderboard_service. (A competition of 40 tasks once got no live board at all: the page's one follow message was
refused whole.)"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import nats
import pytest
import websockets
from websockets.typing import Subprotocol

from gateway.live import MAX_FOLLOWED
from podium_runtime.settings import ServiceSettings
from tests.api import edit_competition, new_task_fields, remove_tasks
from tests.boards import board_loaded, columns_board, delete_board, line, put_board

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def api(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60) as client:
        yield client


async def test_a_socket_follows_every_task_of_a_competition_with_more_than_the_base_limit(
    api: httpx.AsyncClient, gateway_url: str, admin_token: str, settings: ServiceSettings,
) -> None:
    added = [new_task_fields() for _ in range(MAX_FOLLOWED + 8)]
    extra = f"board-{uuid.uuid4().hex[:8]}"  # a board no task of the competition names
    nc = await nats.connect(settings.nats_url, **settings.nats_auth)
    await put_board(nc, columns_board(extra, [line("901", 1, 0.9, 0.3, 0.6)], []))
    await board_loaded(api, extra, admin_token)
    ws_url = gateway_url.replace("http://", "ws://")
    async with websockets.connect(f"{ws_url}/ws/boards", subprotocols=[Subprotocol("podium")]) as socket:
        applied = await edit_competition(api, admin_token, lambda competition: competition["tasks"].extend(added))
        try:
            async with asyncio.timeout(90):
                messages: list[dict[str, Any]] = []
                # This socket's process uses the new version once it says so: then every task is its to follow.
                while not any(m.get("type") == "competition" and m["version"] >= applied["version"]
                              for m in messages):
                    messages.append(json.loads(await socket.recv()))
                tasks = [task["id"] for task in (await api.get("/api/v1/competition")).json()["tasks"]]
                assert len(tasks) > MAX_FOLLOWED and {t["id"] for t in added} <= set(tasks)
                # As the page does: every task at once, and the board it shows.
                await socket.send(json.dumps({"follow": [*tasks, extra]}))
                boards: set[str] = set()
                while not {t["id"] for t in added} | {extra} <= boards:
                    message = json.loads(await socket.recv())
                    assert message["type"] != "error", message
                    if message["type"] == "board":
                        boards.add(message["task_id"])
        finally:
            await remove_tasks(api, admin_token, [t["id"] for t in added])
            await delete_board(nc, extra)
            await nc.drain()
