"""Small helpers for tests that drive the public API as a client would."""

from __future__ import annotations

import uuid
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
