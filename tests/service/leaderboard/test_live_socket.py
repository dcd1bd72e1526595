"""The WebSocket against a real gateway process: a team following a task gets the board at once and on every
change, and its own submissions' status and progress — never another team's; no token, no socket — except the
boards-only `/ws/boards`, open to anyone."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import websockets
from litestar.testing import AsyncTestClient
from websockets.typing import Subprotocol

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from proto.competition import Competition
from tests.api import live_socket, login, new_team
from tests.conftest import task_of


def shows(message: dict, team_name: str) -> bool:
    """A whole board listing the team, or a delta that changes its line."""
    lines = message.get("public") if message["type"] == "board" else message.get("changed")
    return message["type"] in ("board", "board_delta") and team_name in {e["team_name"] for e in lines or []}


async def collect(socket, until, timeout_s: float = 20) -> list[dict]:  # noqa: ANN001
    seen: list[dict] = []
    async with asyncio.timeout(timeout_s):
        while not until(seen):
            seen.append(json.loads(await socket.recv()))
    return seen


async def test_a_team_gets_its_board_status_and_progress_live(
    gateway: AsyncTestClient, gateway_url: str, admin_token: str, competition: tuple[Path, Competition]
) -> None:
    truth = make_ground_truth(task_of(competition, "recon"))
    _, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    _, other_name, other_password = await new_team(gateway, admin_token)
    other_token = await login(gateway, other_name, other_password)

    async with live_socket(gateway_url, token) as mine, \
            live_socket(gateway_url, other_token) as theirs:
        await mine.send(json.dumps({"follow": ["recon"]}))
        await theirs.send(json.dumps({"follow": ["recon"]}))
        first = await collect(mine, lambda seen: any(m["type"] == "board" for m in seen))
        assert first[-1]["task_id"] == "recon"

        async with httpx.AsyncClient(base_url=gateway_url, timeout=60) as client:
            response = await client.post("/submit/recon?wait=30", headers={"Authorization": f"Bearer {token}"},
                                         files={"file": ("s.zip", npy_zip(noisy_submission(truth, 0.03, seed=21)))})
        submission_id = response.json()["id"]
        seen = await collect(mine, lambda seen: any(shows(m, name) for m in seen) and any(
            m["type"] == "submission" and m["status"] == "scored" for m in seen))
        statuses = [m["status"] for m in seen if m["type"] == "submission" and m["submission_id"] == submission_id]
        assert statuses[0] == "received" and statuses[-1] == "scored"
        assert any(m["type"] == "progress" and m["done"] == m["total"] for m in seen)

        others = await collect(theirs, lambda seen: any(shows(m, name) for m in seen))
        assert any(m["type"] == "board_delta" for m in others)  # after the first board, only changes
        assert not [m for m in others if m["type"] in ("submission", "progress")]


async def test_no_token_no_socket(gateway_url: str) -> None:
    async with websockets.connect(f"{gateway_url.replace('http://', 'ws://')}/ws") as socket:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.recv()
    received = closed.value.rcvd
    assert received is not None and received.code == 4401


async def test_anyone_may_watch_the_boards_on_ws_boards_and_nothing_else(
    gateway: AsyncTestClient, gateway_url: str, admin_token: str, competition: tuple[Path, Competition]
) -> None:
    """`/ws/boards` needs no token: boards only (a team's own messages never travel there), and `?private=` is
    true or false, nothing else."""
    truth = make_ground_truth(task_of(competition, "recon"))
    _, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    base = gateway_url.replace("http://", "ws://")
    async with websockets.connect(f"{base}/ws/boards", subprotocols=[Subprotocol("podium")]) as anonymous:
        assert anonymous.subprotocol == "podium"
        await anonymous.send(json.dumps({"follow": ["recon", "no-such-task"]}))
        first = await collect(anonymous, lambda seen: {m["type"] for m in seen} >= {"board", "error"})
        assert any(m["type"] == "error" and "no such task" in m["detail"] for m in first)
        async with httpx.AsyncClient(base_url=gateway_url, timeout=60) as client:
            response = await client.post("/submit/recon?wait=30", headers={"Authorization": f"Bearer {token}"},
                                         files={"file": ("s.zip", npy_zip(noisy_submission(truth, 0.05, seed=22)))})
        assert response.status_code == 200, response.text
        seen = await collect(anonymous, lambda seen: any(shows(m, name) for m in seen))
        assert {m["type"] for m in first + seen} <= {"board", "board_delta", "error"}
        assert all(m.get("private") is None and "private_changed" not in m for m in first + seen)
    async with websockets.connect(f"{base}/ws/boards?private=maybe") as refused:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await refused.recv()
    received = closed.value.rcvd
    assert received is not None and received.code == 4400 and "true or false" in received.reason


async def test_a_token_in_the_url_is_refused(gateway: AsyncTestClient, gateway_url: str, admin_token: str) -> None:
    """A URL is written to access logs and proxies: the token must come as a subprotocol (or a header)."""
    _, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    async with websockets.connect(f"{gateway_url.replace('http://', 'ws://')}/ws?token={token}") as socket:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.recv()
    received = closed.value.rcvd
    assert received is not None and received.code == 4401 and "never in the URL" in received.reason


@pytest.mark.parametrize("change", [{"password": "a-new-password-9"}, {"disabled": True}])
async def test_a_socket_closes_when_its_token_is_revoked(
    gateway: AsyncTestClient, gateway_url: str, admin_token: str, change: dict
) -> None:
    """A password change or a disabled team revokes the team's tokens: its open sockets close at once with the
    reason (the gateway process hears of it through the token_versions bucket), not when the client next asks."""
    team_id, name, password = await new_team(gateway, admin_token)
    async with live_socket(gateway_url, await login(gateway, name, password)) as socket:
        await socket.send(json.dumps({"follow": ["recon"]}))
        await collect(socket, lambda seen: any(m["type"] == "board" for m in seen))
        changed = await gateway.put(f"/api/v1/teams/{team_id}", json=change,
                                    headers={"Authorization": f"Bearer {admin_token}"})
        assert changed.status_code == 200, changed.text
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(20):
                while True:
                    await socket.recv()
    received = closed.value.rcvd
    assert received is not None and received.code == 4401 and "token revoked" in received.reason


async def test_a_malformed_message_gets_an_error_and_the_socket_stays(
    gateway: AsyncTestClient, gateway_url: str, admin_token: str
) -> None:
    _, name, password = await new_team(gateway, admin_token)
    async with live_socket(gateway_url, await login(gateway, name, password)) as socket:
        await socket.send("not json")
        error = json.loads(await socket.recv())
        assert error["type"] == "error" and "follow" in error["detail"]
        await socket.send(json.dumps({"follow": ["recon"]}))
        assert json.loads(await socket.recv())["type"] == "board"


async def test_question_changes_reach_the_asking_team_and_answers_reach_everyone(
    gateway: AsyncTestClient, gateway_url: str, admin_token: str
) -> None:
    _, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    _, other_name, other_password = await new_team(gateway, admin_token)
    other_token = await login(gateway, other_name, other_password)
    async with live_socket(gateway_url, token) as mine, \
            live_socket(gateway_url, other_token) as theirs:
        async with httpx.AsyncClient(base_url=gateway_url) as client:
            asked = await client.post("/qa/questions", json={"title": "t", "content": "c"},
                                      headers={"Authorization": f"Bearer {token}"})
            question_id = asked.json()["id"]
            posted = await collect(mine, lambda seen: any(m.get("question_id") == question_id for m in seen))
            assert posted[-1]["change"] == "posted"
            await client.put(f"/qa/questions/{question_id}", json={"answer": "yes"},
                             headers={"Authorization": f"Bearer {admin_token}"})
        answered = await collect(theirs, lambda seen: any(m.get("question_id") == question_id for m in seen))
        # The other team saw nothing while the question was private, then the answer.
        assert [m["change"] for m in answered if m.get("question_id") == question_id] == ["answered"]
