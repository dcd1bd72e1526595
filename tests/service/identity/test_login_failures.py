"""The per-name failed-login limit: its counter in the real PostgreSQL at given times (no wall clock), and through the
public API against the session's auth_service, whose limit is PODIUM_LOGIN_FAILURES_PER_ACCOUNT's (10 unless its
environment says otherwise) within a window far longer than these tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from auth_service import login_failures
from auth_service.app import AuthServiceSettings
from auth_service.login_failures import LoginLimit
from podium_runtime.connections import PgConnection
from tests.api import login, new_team

LIMIT = LoginLimit(failures=3, window=timedelta(minutes=15))
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
async def conn(pg_pool: asyncpg.Pool, auth_service: dict[str, str]) -> AsyncIterator[PgConnection]:
    """A connection to the session's database, where auth_service applied its migrations."""
    async with pg_pool.acquire() as connection:
        yield connection


def session_limit(auth_service: dict[str, str]) -> int:
    default = str(AuthServiceSettings.model_fields["login_failures_per_account"].default)
    return int(auth_service.get("PODIUM_LOGIN_FAILURES_PER_ACCOUNT", default))


# --- the counter, at given times ----------------------------------------------------------------------------------


async def test_attempts_count_up_to_one_past_the_limit_within_the_window(conn: asyncpg.Connection) -> None:
    name = f"counted-{uuid.uuid4().hex}"
    counted = [await login_failures.count_attempt(conn, name, at(i), LIMIT) for i in range(6)]
    assert [attempts for attempts, _ in counted] == [1, 2, 3, 4, 4, 4]  # capped: refusals do not grow it
    assert {started for _, started in counted} == {T0}  # refusals do not extend the window
    assert [LIMIT.retry_after(n, started, at(i)) for i, (n, started) in enumerate(counted)] == [
        None, None, None, 897, 896, 895]


async def test_a_passed_window_starts_again(conn: asyncpg.Connection) -> None:
    name = f"window-{uuid.uuid4().hex}"
    for i in range(4):
        await login_failures.count_attempt(conn, name, at(i), LIMIT)
    assert await login_failures.count_attempt(conn, name, at(899), LIMIT) == (4, T0)
    assert await login_failures.count_attempt(conn, name, at(900), LIMIT) == (1, at(900))


async def test_any_spelling_that_finds_the_account_shares_its_count(conn: asyncpg.Connection) -> None:
    name = f"Spelled-{uuid.uuid4().hex}"
    await login_failures.count_attempt(conn, name, T0, LIMIT)
    assert (await login_failures.count_attempt(conn, name.upper(), T0, LIMIT))[0] == 2
    assert (await login_failures.count_attempt(conn, name.lower(), T0, LIMIT))[0] == 3


async def test_a_success_forgets_the_count_of_that_name_only(conn: asyncpg.Connection) -> None:
    name, other = f"forget-{uuid.uuid4().hex}", f"other-{uuid.uuid4().hex}"
    for _ in range(3):
        await login_failures.count_attempt(conn, name, T0, LIMIT)
        await login_failures.count_attempt(conn, other, T0, LIMIT)
    await login_failures.forget(conn, name.upper())
    assert (await login_failures.count_attempt(conn, name, at(1), LIMIT))[0] == 1
    assert (await login_failures.count_attempt(conn, other, at(1), LIMIT))[0] == 4


async def test_a_name_of_any_length_is_kept_as_a_digest(conn: asyncpg.Connection) -> None:
    name = "x" * 100_000 + uuid.uuid4().hex
    assert (await login_failures.count_attempt(conn, name, T0, LIMIT))[0] == 1
    assert (await login_failures.count_attempt(conn, name, T0, LIMIT))[0] == 2
    kept = await conn.fetch("SELECT name_digest FROM auth.login_failures WHERE name_digest = "
                            "sha256(convert_to(lower($1), 'UTF8'))", name)
    assert [len(row["name_digest"]) for row in kept] == [32]


async def test_prune_deletes_only_windows_that_passed(conn: asyncpg.Connection) -> None:
    # Far in the past of every other row, so that what other tests left is neither pruned here nor counted.
    old = datetime(1990, 1, 1, tzinfo=UTC)
    stale, fresh = f"stale-{uuid.uuid4().hex}", f"fresh-{uuid.uuid4().hex}"
    await login_failures.count_attempt(conn, stale, old, LIMIT)
    await login_failures.count_attempt(conn, fresh, old + timedelta(minutes=10), LIMIT)
    assert await login_failures.prune(conn, old + timedelta(minutes=15), LIMIT.window) == 1
    assert (await login_failures.count_attempt(conn, fresh, old + timedelta(minutes=11), LIMIT))[0] == 2
    assert (await login_failures.count_attempt(conn, stale, old + timedelta(minutes=11), LIMIT))[0] == 1
    await login_failures.prune(conn, old + timedelta(days=1), LIMIT.window)


# --- through the public API ---------------------------------------------------------------------------------------


async def failed_logins(gateway: AsyncTestClient, name: str, times: int) -> list[int]:
    return [(await gateway.post("/auth/login", json={"name": name, "password": "not-the-password"})).status_code
            for _ in range(times)]


async def test_after_the_limit_even_the_right_password_gets_a_429_until_the_window_ends(
    gateway: AsyncTestClient, admin_token: str, auth_service: dict[str, str]
) -> None:
    limit = session_limit(auth_service)
    _, name, password = await new_team(gateway, admin_token)
    _, other, other_password = await new_team(gateway, admin_token)
    assert await failed_logins(gateway, name, limit) == [401] * limit
    refused = await gateway.post("/auth/login", json={"name": name, "password": password})
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    window = str(AuthServiceSettings.model_fields["login_lockout_s"].default)
    assert 0 < int(refused.headers["Retry-After"]) <= int(auth_service.get("PODIUM_LOGIN_LOCKOUT_S", window))
    assert "too many failed logins for this name" in refused.json()["detail"]
    assert f"refused for {refused.headers['Retry-After']} s" in refused.json()["detail"]
    assert (await gateway.post("/auth/login", json={"name": f" {name.upper()}", "password": password})
            ).status_code == 429
    await login(gateway, other, other_password)  # another account is not affected


async def test_an_unknown_name_is_limited_the_same_way(gateway: AsyncTestClient, auth_service: dict[str, str]) -> None:
    limit = session_limit(auth_service)
    assert await failed_logins(gateway, f"nobody-{uuid.uuid4().hex}", limit + 2) == [401] * limit + [429] * 2


async def test_a_successful_login_starts_the_count_afresh(
    gateway: AsyncTestClient, admin_token: str, auth_service: dict[str, str]
) -> None:
    limit = session_limit(auth_service)
    _, name, password = await new_team(gateway, admin_token)
    for _ in range(2):
        assert await failed_logins(gateway, name, limit - 1) == [401] * (limit - 1)
        await login(gateway, name, password)
