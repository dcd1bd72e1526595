"""Refresh-token rotation with reuse detection, through the public API against the real auth_service, NATS and
PostgreSQL: a spent refresh token used again revokes every token of its login (its refresh-token family) at once,
here and at every other gateway, and no other login of the same team."""

from __future__ import annotations

import asyncio
import time

from litestar.testing import AsyncTestClient

from podium_runtime.settings import ServiceSettings
from tests.api import bearer, new_team
from tests.conftest import gateway_settings, running_gateway

REFRESH = "/api/v1/auth/refresh"


async def _login(gateway: AsyncTestClient, name: str, password: str) -> dict[str, str]:
    response = await gateway.post("/api/v1/auth/login", json={"name": name, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


async def _refresh(gateway: AsyncTestClient, refresh_token: str):  # noqa: ANN202 — an httpx response
    return await gateway.post(REFRESH, json={"refresh_token": refresh_token})


async def _me(gateway: AsyncTestClient, access_token: str) -> int:
    return (await gateway.get("/api/v1/auth/me", headers=bearer(access_token))).status_code


async def test_a_replayed_refresh_token_revokes_its_whole_login(gateway: AsyncTestClient, admin_token: str) -> None:
    _, name, password = await new_team(gateway, admin_token)
    first = await _login(gateway, name, password)  # R1, A1
    elsewhere = await _login(gateway, name, password)  # another login of the same team
    rotated = await _refresh(gateway, first["refresh_token"])  # R2, A2
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert await _me(gateway, second["access_token"]) == 200

    replay = await _refresh(gateway, first["refresh_token"])
    assert replay.status_code == 401
    problem = replay.json()
    assert "refresh token was already used" in problem["detail"] and "log in again" in problem["detail"]
    assert "revoked_family" not in problem  # meant for the gateway, not the client

    refused = await _refresh(gateway, second["refresh_token"])
    assert refused.status_code == 401 and "log in again" in refused.json()["detail"]
    for access_token in (second["access_token"], first["access_token"]):
        me = await gateway.get("/api/v1/auth/me", headers=bearer(access_token))
        assert me.status_code == 401
        assert "a refresh token of its login was used twice" in me.json()["detail"]

    # The other login is untouched, and logging in again works.
    assert await _me(gateway, elsewhere["access_token"]) == 200
    assert (await _refresh(gateway, elsewhere["refresh_token"])).status_code == 200
    assert await _me(gateway, (await _login(gateway, name, password))["access_token"]) == 200


async def test_a_second_replay_is_refused_the_same_way(gateway: AsyncTestClient, admin_token: str) -> None:
    _, name, password = await new_team(gateway, admin_token)
    first = await _login(gateway, name, password)
    assert (await _refresh(gateway, first["refresh_token"])).status_code == 200
    for _ in range(2):
        replay = await _refresh(gateway, first["refresh_token"])
        assert replay.status_code == 401 and "already used" in replay.json()["detail"]


async def test_two_refreshes_racing_with_one_token_leave_no_live_token(
    gateway: AsyncTestClient, admin_token: str
) -> None:
    _, name, password = await new_team(gateway, admin_token)
    tokens = await _login(gateway, name, password)
    answers = await asyncio.gather(*(_refresh(gateway, tokens["refresh_token"]) for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [200, 401]
    (winner,) = [a.json() for a in answers if a.status_code == 200]
    assert (await _refresh(gateway, winner["refresh_token"])).status_code == 401
    assert await _me(gateway, winner["access_token"]) == 401


async def test_the_revocation_reaches_other_gateways_through_kv(
    gateway: AsyncTestClient, admin_token: str, settings: ServiceSettings
) -> None:
    _, name, password = await new_team(gateway, admin_token)
    first = await _login(gateway, name, password)
    async with running_gateway(gateway_settings(settings)) as other:
        second = (await _refresh(gateway, first["refresh_token"])).json()
        assert await _me(other, second["access_token"]) == 200
        assert (await _refresh(gateway, first["refresh_token"])).status_code == 401
        deadline = time.monotonic() + 5
        while await _me(other, second["access_token"]) != 401:
            assert time.monotonic() < deadline, "the other gateway still honours the revoked login's token"
    # A gateway started afterwards loads the revoked logins before it is ready.
    async with running_gateway(gateway_settings(settings)) as later:
        assert await _me(later, second["access_token"]) == 401
        assert await _me(later, first["access_token"]) == 401
