"""Two gateway processes on one port (PODIUM_GATEWAY_WORKERS=2) against the session's real NATS, PostgreSQL and S3:
requests land on either, and what each keeps in memory agrees — a disabled team or a revoked login is refused by
both, the rate limit is one budget for both, a board socket on each gets the same messages with the same revisions,
and one `/metrics` scrape counts both.

Which process served a response is in its `podium-worker` header; a fresh connection lands where the kernel puts
it, so each check opens fresh connections until it has reached both processes (a bounded number of tries). Admin
actions go through the session's in-process gateway (`gateway`): the two processes learn of them only as any replica
would, from NATS. Only fresh teams call the two processes (their rate-limit keys are their own)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import websockets
from litestar.testing import AsyncTestClient
from nats.aio.client import Client as NatsClient
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection

from deploy.stack import EmbeddedStack
from tests.api import bearer, login, new_team
from tests.boards import columns_board, delete_board, line, put_board
from tests.conftest import service_process

WORKERS = {"1", "2"}
LIMIT = 40  # requests per minute per team on the two processes
TRIES = 200  # fresh connections to reach both processes: each lands on one at random (2^-199 to miss one)
WAIT_S = 30.0


@pytest.fixture(scope="module")
def two_workers(stack: EmbeddedStack, auth_service: dict[str, str],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with service_process("gateway", stack, tmp_path_factory.mktemp("two-workers"), PODIUM_GATEWAY_WORKERS="2",
                         PODIUM_RATE_LIMIT_PER_MINUTE=str(LIMIT)) as env:
        yield f"http://127.0.0.1:{env['PODIUM_GATEWAY_HTTP_PORT']}"


async def fresh(url: str, path: str, token: str | None = None) -> httpx.Response:
    """One request on a connection of its own."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await client.get(path, headers=bearer(token) if token else None)


async def on_both(ask: Callable[[], Awaitable[httpx.Response]], done: Callable[[httpx.Response], bool]
                  ) -> dict[str, httpx.Response]:
    """`ask` again and again until each process's latest answer is `done` (within WAIT_S): the answers by process."""
    latest: dict[str, httpx.Response] = {}
    async with asyncio.timeout(WAIT_S):
        while set(latest) != WORKERS or not all(done(answer) for answer in latest.values()):
            answer = await ask()
            latest[answer.headers["podium-worker"]] = answer
    return latest


@pytest.fixture
async def team(gateway: AsyncTestClient, admin_token: str) -> tuple[int, str, str]:
    """A fresh team (id, name, password), made through the in-process gateway."""
    return await new_team(gateway, admin_token)


async def test_requests_land_on_either_process(two_workers: str, gateway: AsyncTestClient,
                                               team: tuple[int, str, str]) -> None:
    token = await login(gateway, *team[1:])
    answers = await on_both(lambda: fresh(two_workers, "/api/v1/auth/me", token), lambda a: a.status_code == 200)
    assert {answer.json()["id"] for answer in answers.values()} == {team[0]}


async def test_a_disabled_team_is_refused_by_both(two_workers: str, gateway: AsyncTestClient, admin_token: str,
                                                  team: tuple[int, str, str]) -> None:
    token = await login(gateway, *team[1:])
    await on_both(lambda: fresh(two_workers, "/api/v1/auth/me", token), lambda a: a.status_code == 200)
    disabled = await gateway.put(f"/api/v1/teams/{team[0]}", json={"disabled": True}, headers=bearer(admin_token))
    assert disabled.status_code == 200, disabled.text
    refused = await on_both(lambda: fresh(two_workers, "/api/v1/auth/me", token), lambda a: a.status_code == 401)
    assert all(answer.json()["status"] == 401 for answer in refused.values())


async def test_a_revoked_login_is_refused_by_both(two_workers: str, gateway: AsyncTestClient,
                                                  team: tuple[int, str, str]) -> None:
    """A refresh token used twice revokes its whole login (`revoked_token_families`): its access token too."""
    logged_in = await gateway.post("/auth/login", json={"name": team[1], "password": team[2]})
    token, refresh = logged_in.json()["access_token"], logged_in.json()["refresh_token"]
    await on_both(lambda: fresh(two_workers, "/api/v1/auth/me", token), lambda a: a.status_code == 200)
    assert (await gateway.post("/api/v1/auth/refresh", json={"refresh_token": refresh})).status_code == 200
    replayed = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert replayed.status_code == 401, replayed.text
    await on_both(lambda: fresh(two_workers, "/api/v1/auth/me", token), lambda a: a.status_code == 401)


async def test_the_rate_limit_is_one_budget_for_both(two_workers: str, gateway: AsyncTestClient,
                                                     team: tuple[int, str, str]) -> None:
    token = await login(gateway, *team[1:])
    answers = await asyncio.gather(*(fresh(two_workers, "/api/v1/auth/me", token) for _ in range(LIMIT + 20)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * LIMIT + [429] * 20, [a.text for a in answers if a.status_code not in (200, 429)]
    # Both processes answered: with a budget each, they would have granted up to twice LIMIT between them.
    assert {a.headers["podium-worker"] for a in answers} == WORKERS, [a.headers["podium-worker"] for a in answers]


async def scraped(url: str, name: str, **labels: str) -> float:
    """The sum of `name`'s samples with `labels` in one scrape of `/metrics` (whichever process answers it)."""
    scrape = await fresh(url, "/metrics")
    assert scrape.status_code == 200, scrape.text
    return sum(sample.value for family in text_string_to_metric_families(scrape.text) for sample in family.samples
               if sample.name == name and labels.items() <= sample.labels.items())


async def test_one_scrape_counts_both_processes(two_workers: str, gateway: AsyncTestClient,
                                                team: tuple[int, str, str]) -> None:
    token = await login(gateway, *team[1:])

    async def served() -> float:
        return await scraped(two_workers, "http_requests_total", path="/api/v1/auth/me")

    before = await served()
    answers = await asyncio.gather(*(fresh(two_workers, "/api/v1/auth/me", token) for _ in range(20)))
    assert {a.status_code for a in answers} == {200}
    assert {a.headers["podium-worker"] for a in answers} == WORKERS, [a.headers["podium-worker"] for a in answers]
    assert await served() - before == 20


# --- the live boards ------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def board_socket_on_each(url: str) -> AsyncIterator[dict[str, ClientConnection]]:
    """An anonymous `/ws/boards` socket on each process (more are opened and closed until both are reached)."""
    sockets: dict[str, ClientConnection] = {}
    try:
        for _ in range(TRIES):
            socket = await websockets.connect(f"{url.replace('http://', 'ws://')}/ws/boards")
            assert socket.response is not None
            worker = socket.response.headers["podium-worker"]
            if worker in sockets:
                await socket.close()
                continue
            sockets[worker] = socket
            if set(sockets) == WORKERS:
                break
        assert set(sockets) == WORKERS, f"{TRIES} connections all reached {set(sockets)}"
        yield sockets
    finally:
        for socket in sockets.values():
            await socket.close()


async def next_board_message(socket: ClientConnection, task_id: str) -> dict[str, Any]:
    """The socket's next message about `task_id`'s board; a refusal to follow (this process has not seen the board
    yet) is answered by following again."""
    async with asyncio.timeout(WAIT_S):
        while True:
            message = json.loads(await socket.recv())
            if message["type"] == "error":
                await socket.send(json.dumps({"follow": [task_id]}))
            elif message["type"] in ("board", "board_delta") and message["task_id"] == task_id:
                return message


async def test_a_socket_on_each_process_gets_the_same_board_messages(two_workers: str, nc: NatsClient,
                                                                     unique: str) -> None:
    task_id = f"workers-{unique}"
    lines = [line("alpha", 1, 0.90, 0.30, 0.5)]
    first = await put_board(nc, columns_board(task_id, lines, []))
    try:
        async with board_socket_on_each(two_workers) as sockets:
            for socket in sockets.values():
                await socket.send(json.dumps({"follow": [task_id]}))
            whole = [await next_board_message(socket, task_id) for socket in sockets.values()]
            async with asyncio.timeout(WAIT_S):  # the extra sockets opened to reach both processes close meanwhile
                while await scraped(two_workers, "podium_websocket_clients") != 2:  # one per process, summed
                    await asyncio.sleep(0.05)  # a poll's pace, under the bounded wait
            assert whole[0] == whole[1] and whole[0]["type"] == "board" and whole[0]["revision"] == first
            revision = first
            for team, score in (("bravo", 0.95), ("charlie", 0.80), ("alpha", 0.97)):
                # One change at a time: each socket's message is the delta from the revision it has to this one.
                lines = sorted([*(e for e in lines if e.team_id != team), line(team, 0, score, 0.3, 0.5)],
                               key=lambda e: -e.score)
                lines = [line(e.team_id, rank, e.score, 0.3, 0.5) for rank, e in enumerate(lines, start=1)]
                base, revision = revision, await put_board(nc, columns_board(task_id, lines, []))
                deltas = [await next_board_message(socket, task_id) for socket in sockets.values()]
                assert deltas[0] == deltas[1], "the same delta, whichever process the socket is on"
                assert (deltas[0]["type"], deltas[0]["base_revision"], deltas[0]["revision"]) == (
                    "board_delta", base, revision)
    finally:
        await delete_board(nc, task_id)
