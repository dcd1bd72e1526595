"""The competition's own pushes from the gateway as its own process, over real sockets, real NATS and the real
submission_service: a new version in use reaches a team's `/ws` and an anonymous `/ws/boards` with the ids of the
tasks it changed, a phase opening and closing reaches both as it happens, and the gateway's `/metrics` shows the
version it uses (`podium_competition_version`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from litestar.testing import AsyncTestClient
from websockets.typing import Subprotocol

from tests.api import edit_competition, live_socket, new_task_fields, remove_tasks, team_token

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def api(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60) as client:
        yield client


async def test_the_gateways_metrics_show_the_competition_version_it_uses(api: httpx.AsyncClient) -> None:
    async with asyncio.timeout(30):
        while True:  # another test may apply a version meanwhile: the two readings agree once it is in use
            version = (await api.get("/api/v1/competition")).json()["version"]
            metrics = (await api.get("/metrics")).text
            shown = re.search(r"^podium_competition_version (\S+)$", metrics, re.MULTILINE)
            assert shown is not None, metrics[:2000]
            if float(shown.group(1)) == version:
                break
            await asyncio.sleep(0.1)
    assert version >= 1


def received(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [message for message in messages if message.get("type") == kind]


async def test_every_socket_hears_of_a_new_version_and_of_a_phase_opening_and_closing(
    gateway: AsyncTestClient, gateway_url: str, api: httpx.AsyncClient, admin_token: str,
) -> None:
    _, token = await team_token(gateway, admin_token)
    listened: dict[str, list[dict[str, Any]]] = {"team": [], "anonymous": []}

    async def listen(socket: Any, into: list[dict[str, Any]]) -> None:
        async for frame in socket:
            into.append(json.loads(frame))

    ws_url = gateway_url.replace("http://", "ws://")
    async with (
        live_socket(gateway_url, token) as team,
        websockets.connect(f"{ws_url}/ws/boards", subprotocols=[Subprotocol("podium")]) as anonymous,
    ):
        listeners = [asyncio.create_task(listen(team, listened["team"])),
                     asyncio.create_task(listen(anonymous, listened["anonymous"]))]
        # A phase that opens a moment after the version is in use and closes a moment later: both pushed as they
        # happen, whatever else the session does meanwhile.
        now = datetime.now(UTC)
        task = new_task_fields(phases=[{"id": "sprint", "opens_at": (now + timedelta(seconds=2)).isoformat(),
                                        "closes_at": (now + timedelta(seconds=3)).isoformat()}])
        version = (await edit_competition(api, admin_token, lambda competition: competition["tasks"].append(task))
                   )["version"]
        try:
            opened = {"type": "phase", "task_id": task["id"], "phase_id": "sprint", "state": "opened"}
            closed = {**opened, "state": "closed"}
            async with asyncio.timeout(30):
                while not all(closed in messages for messages in listened.values()):
                    assert not any(listener.done() for listener in listeners), listened
                    await asyncio.sleep(0.05)
            for who, messages in listened.items():
                versions = received(messages, "competition")
                assert {"type": "competition", "version": version, "tasks": [task["id"]]} in versions, (who, versions)
                phases = [m for m in received(messages, "phase") if m["task_id"] == task["id"]]
                assert phases == [opened, closed], (who, phases)  # each once, in their order
        finally:
            for listener in listeners:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
            await remove_tasks(api, admin_token, [task["id"]])
