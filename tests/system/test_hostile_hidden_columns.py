"""A team, or anyone not signed in, hunting for a hidden board column (`hidden = true` in `[[tasks.metrics]]`): its
header and its values must reach no reply and no push but an admin's — the board (current, `?at=`, MLS-GOAT's, the
CSV export), the task list (it must not even say the column exists), and every WebSocket (`/ws`, `/ws/boards`, a
projector's): the whole board, and its deltas, where a change of the hidden column alone sends a non-admin nothing.

The board is written into the `leaderboards` KV bucket as the leaderboard service writes it (the gateway is what is
under test): a revision with the hidden column, one where only the hidden column changes, one where a visible column
changes. An admin, on the same surfaces, sees the hidden column and every one of its values."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
import pytest
import websockets
from litestar.testing import AsyncTestClient
from websockets.typing import Subprotocol

from podium_runtime.settings import ServiceSettings
from tests.api import bearer, edit_competition, live_socket, remove_tasks, team_token
from tests.boards import HIDDEN, board_loaded, columns_board, columns_task_fields, delete_board, line, put_board

pytestmark = pytest.mark.system

# Every value the hidden column takes, on either split, in any revision: none is a visible column's value.
HIDDEN_VALUES = (0.613579, 0.624681, 0.635792, 0.646813, 0.657924, 0.668135)
SOCKETS = ("team /ws", "/ws/boards", "/ws/boards?private=false", "admin /ws")


def boards(task_id: str) -> list[Any]:
    """Revisions 1 to 3: the hidden column shown; the hidden column alone changed; a visible column changed."""
    v = HIDDEN_VALUES
    first = columns_board(task_id, [line("901", 1, 0.91, 0.31, v[0]), line("902", 2, 0.82, 0.42, v[1])],
                          [line("901", 1, 0.88, 0.33, v[2]), line("902", 2, 0.79, 0.44, v[3])])
    hidden_only = columns_board(task_id, [line("901", 1, 0.91, 0.31, v[4]), line("902", 2, 0.82, 0.42, v[1])],
                                [line("901", 1, 0.88, 0.33, v[5]), line("902", 2, 0.79, 0.44, v[3])])
    visible = columns_board(task_id, [line("901", 1, 0.97, 0.27, v[4]), line("902", 2, 0.82, 0.42, v[1])],
                            [line("901", 1, 0.88, 0.33, v[5]), line("902", 2, 0.79, 0.44, v[3])])
    return [first, hidden_only, visible]


@dataclass
class World:
    http: httpx.AsyncClient
    task_id: str  # the competition's task with the hidden column (the task list, `?at=`)
    board_key: str  # where its board is (every other board route and socket)
    team: str
    admin: str
    revisions: list[int]
    pushes: dict[str, list[dict]] = field(default_factory=dict)  # per socket, every message received


def _got(messages: list[dict], task_id: str, revision: int) -> bool:
    return any(m.get("task_id") == task_id and m.get("revision") == revision for m in messages)


async def _until(condition: Callable[[], bool], listeners: list[asyncio.Task[None]], what: str) -> None:
    async with asyncio.timeout(30):
        while not condition():
            assert not any(task.done() for task in listeners), what
            await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
async def world(gateway: AsyncTestClient, gateway_url: str, admin_token: str, settings: ServiceSettings
                ) -> AsyncIterator[World]:
    _, team = await team_token(gateway, admin_token)
    task = columns_task_fields()
    # The boards are under a key of their own, which the leaderboard service never writes (no task of its
    # competition has it): what the gateway serves of them is exactly what this test wrote.
    board_key = f"cols-{uuid.uuid4().hex[:8]}"
    nc = await nats.connect(settings.nats_url, **settings.nats_auth)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60) as client:
        await edit_competition(client, admin_token, lambda competition: competition["tasks"].append(task))
        try:
            first, hidden_only, visible = boards(board_key)
            revisions = [await put_board(nc, first)]
            await board_loaded(client, board_key, admin_token)
            ws_url = gateway_url.replace("http://", "ws://")
            async with contextlib.AsyncExitStack() as stack:
                sockets = {
                    "team /ws": await stack.enter_async_context(live_socket(gateway_url, team)),
                    "admin /ws": await stack.enter_async_context(live_socket(gateway_url, admin_token)),
                    **{path: await stack.enter_async_context(websockets.connect(
                        ws_url + path, subprotocols=[Subprotocol("podium")])) for path in SOCKETS if "/ws/" in path}}
                pushes: dict[str, list[dict]] = {name: [] for name in SOCKETS}

                async def listen(name: str) -> None:
                    async for frame in sockets[name]:
                        pushes[name].append(json.loads(frame))

                listeners = [asyncio.create_task(listen(name)) for name in SOCKETS]
                for socket in sockets.values():
                    await socket.send(json.dumps({"follow": [board_key]}))
                await _until(lambda: all(_got(pushes[n], board_key, revisions[0]) for n in SOCKETS), listeners,
                             "every socket gets the board it follows")
                # The hidden column alone changes: the admin hears of it before the visible change is written.
                revisions.append(await put_board(nc, hidden_only))
                await _until(lambda: _got(pushes["admin /ws"], board_key, revisions[1]), listeners,
                             "the admin's socket gets the hidden change")
                revisions.append(await put_board(nc, visible))
                await _until(lambda: all(_got(pushes[n], board_key, revisions[2]) for n in SOCKETS), listeners,
                             "every socket gets the visible change")
                for listener in listeners:
                    listener.cancel()
            yield World(client, task["id"], board_key, team, admin_token, revisions, pushes)
        finally:
            await delete_board(nc, board_key)
            await remove_tasks(client, admin_token, [task["id"]])
            await nc.drain()


# --- the surfaces ---------------------------------------------------------------------------------------------------

Ask = Callable[[World], Awaitable[str]]


def http(path: str, who: str) -> Ask:
    async def ask(world: World) -> str:
        headers = {"team": bearer(world.team), "nobody": {}, "admin": bearer(world.admin)}[who]
        response = await world.http.get(path.format(task=world.task_id, board=world.board_key, now=_now()),
                                        headers=headers)
        assert response.status_code == 200, response.text
        return response.text

    return ask


def pushed(socket: str) -> Ask:
    async def ask(world: World) -> str:
        return json.dumps(world.pushes[socket])

    return ask


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


ROUTES = ("/api/v1/leaderboards/{board}", "/api/v1/leaderboards/{task}?at={now}", "/leaderboard/{board}",
          "/api/leaderboard/{board}", "/api/v1/leaderboards/{board}/export.csv", "/api/v1/tasks", "/api/v1/competition")
SURFACES: dict[str, Ask] = {
    **{f"{path} ({who})": http(path, who) for path in ROUTES for who in ("team", "nobody")},
    **{f"every push to {socket}": pushed(socket) for socket in SOCKETS if socket != "admin /ws"},
}


def assert_nothing_hidden(text: str) -> None:
    assert not re.search(HIDDEN, text, re.IGNORECASE), text
    for value in HIDDEN_VALUES:
        assert repr(value) not in text and str(value)[:6] not in text, (value, text)


@pytest.mark.parametrize("surface", list(SURFACES))
async def test_a_hidden_column_reaches_no_team_and_no_visitor(world: World, surface: str) -> None:
    assert_nothing_hidden(await SURFACES[surface](world))


async def test_the_visible_columns_reach_everyone(world: World) -> None:
    """What the corpus looks through does carry the board's columns: the hidden one is missing, not all of them."""
    board = (await world.http.get(f"/api/v1/leaderboards/{world.board_key}")).json()
    assert [c["name"] for c in board["columns"]] == ["AUC", "LogLoss"]
    assert board["public"][0]["columns"] == {"AUC": 0.97, "LogLoss": 0.27}
    tasks = (await world.http.get("/api/v1/tasks", headers=bearer(world.team))).json()["tasks"]
    mine = next(t for t in tasks if t["id"] == world.task_id)
    assert [(c["header"], c["primary"], c["tie_break"]) for c in mine["columns"]] == [
        ("AUC", True, False), ("LogLoss", False, True)]
    csv = (await world.http.get(f"/api/v1/leaderboards/{world.board_key}/export.csv")).text
    assert csv.splitlines()[0].endswith(",AUC,LogLoss") and "private" not in csv


async def test_a_change_of_the_hidden_column_alone_sends_a_non_admin_nothing(world: World) -> None:
    first, hidden_only, visible = world.revisions
    for socket in SOCKETS[:3]:
        messages = [m for m in world.pushes[socket] if m.get("task_id") == world.board_key]
        assert not _got(messages, world.board_key, hidden_only), (socket, messages)
        delta = next(m for m in messages if m.get("revision") == visible)
        assert (delta["type"], delta["base_revision"]) == ("board_delta", first), delta
        assert delta["changed"][0]["columns"] == {"AUC": 0.97, "LogLoss": 0.27}
    admins = next(m for m in world.pushes["admin /ws"] if m.get("revision") == hidden_only)
    assert admins["type"] == "board_delta" and admins["changed"][0]["columns"][HIDDEN] == HIDDEN_VALUES[4]
    assert admins["private_changed"][0]["columns"][HIDDEN] == HIDDEN_VALUES[5]


async def test_an_admin_sees_the_hidden_column_everywhere(world: World) -> None:
    """The same surfaces carry the hidden column to an admin: the corpus looks for what is really there (the board
    at a past moment is the leaderboard service's, where nothing was scored)."""
    texts = {path: await http(path, "admin")(world) for path in ROUTES if "?at=" not in path}
    texts["admin /ws"] = await pushed("admin /ws")(world)
    assert all(HIDDEN in text for text in texts.values()), texts
    assert all(repr(value) in texts["admin /ws"] for value in HIDDEN_VALUES)
    csv = texts["/api/v1/leaderboards/{board}/export.csv"]
    assert csv.splitlines()[0].endswith(f",AUC,LogLoss,{HIDDEN},private AUC,private LogLoss,private {HIDDEN}")
    tasks = json.loads(texts["/api/v1/tasks"])["tasks"]
    hidden = next(t for t in tasks if t["id"] == world.task_id)["columns"][-1]
    assert (hidden["header"], hidden["hidden"]) == (HIDDEN, True)
