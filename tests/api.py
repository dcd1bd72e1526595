"""Small helpers for tests that drive the public API as a client would."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: httpx.AsyncClient, name: str, password: str) -> str:
    response = await client.post("/auth/login", json={"name": name, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def new_team(client: httpx.AsyncClient, admin_token: str, **fields: object) -> tuple[int, str, str]:
    name, password = f"team-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    response = await client.post("/teams/", json={"name": name, "password": password, **fields},
                                 headers={"Authorization": f"Bearer {admin_token}"})
    assert response.status_code == 200, response.text
    return response.json()["id"], name, password


async def team_token(client: httpx.AsyncClient, admin_token: str) -> tuple[int, str]:
    """A fresh team, logged in: (team id, access token)."""
    team_id, name, password = await new_team(client, admin_token)
    return team_id, await login(client, name, password)


def live_socket(base_url: str, token: str, **options: Any) -> connect:
    """The gateway's /ws as a browser opens it: the token offered as a subprotocol, never in the URL."""
    return websockets.connect(f"{base_url.replace('http://', 'ws://')}/ws",
                              subprotocols=[Subprotocol("podium"), Subprotocol(f"bearer.{token}")], **options)


async def edit_competition(client: httpx.AsyncClient, admin_token: str,
                           change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Apply `change` (it edits the competition object `{"competition": …, "tasks": […]}` in place) as an admin does:
    the document read with its ETag, sent back as JSON with If-Match — read again and re-applied when another edit
    got in between (412). Answers the CompetitionApplied."""
    for _ in range(5):
        current = await client.get("/api/v1/admin/competition", headers=bearer(admin_token))
        assert current.status_code == 200, current.text
        competition = current.json()["competition"]
        change(competition)
        applied = await client.put("/api/v1/admin/competition", json=competition,
                                   headers={**bearer(admin_token), "If-Match": current.headers["ETag"]})
        if applied.status_code != 412:
            assert applied.status_code == 200, applied.text
            return applied.json()
    raise AssertionError("the competition changed under every one of 5 tries")


def new_task_fields(**fields: Any) -> dict[str, Any]:
    """A small cpu task of the tests' own (`web-<random>`: never one of the session's shared tasks), open now."""
    now = datetime.now(UTC).replace(microsecond=0)
    return {"id": f"web-{uuid.uuid4().hex[:8]}", "title": "A task of one test", "kind": "cpu", "metric": "psnr",
            "samples": 4, "shape": [2, 4, 4], "daily_quota": 3,
            "phases": [{"id": "main", "opens_at": (now - timedelta(hours=1)).isoformat(),
                        "closes_at": (now + timedelta(days=2)).isoformat()}], **fields}


async def add_task(client: httpx.AsyncClient, admin_token: str, **fields: Any) -> dict[str, Any]:
    """Add one task of the test's own to the shared competition; answers its fields as sent."""
    task = new_task_fields(**fields)
    await edit_competition(client, admin_token, lambda competition: competition["tasks"].append(task))
    return task


async def remove_tasks(client: httpx.AsyncClient, admin_token: str, task_ids: Iterable[str]) -> None:
    """Take a test's own tasks (without submissions) out of the shared competition again."""
    gone = set(task_ids)

    def remove(competition: dict[str, Any]) -> None:
        competition["tasks"] = [task for task in competition["tasks"] if task["id"] not in gone]

    await edit_competition(client, admin_token, remove)
