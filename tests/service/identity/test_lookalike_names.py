"""Look-alike and invisible names, through the public API against the real auth_service and PostgreSQL: a name that
looks the same as a live account's (Unicode TR39 skeleton after NFKC: Cyrillic or Greek letters, fullwidth forms…)
is refused on create, rename and CSV import with a 409, a name with nothing visible with a 422; the keys are kept
in indexed columns, and the rows from before them are keyed at start."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from auth_service import accounts
from auth_service.names import lookalike_keys
from tests.api import bearer, new_team
from tests.conftest import ADMIN

LOOKS_THE_SAME = "a team with a name that looks the same"
NEEDS_VISIBLE = "a team name needs a visible character"
CYRILLIC = str.maketrans("aeopcx", "\u0430\u0435\u043e\u0440\u0441\u0445")  # а е о р с х
FULLWIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})


def _base() -> str:
    # Letters only where look-alikes are swapped in, and a tag of hex digits (none of which look alike).
    return f"space-pace-{uuid.uuid4().hex[:8]}"


async def _create(gateway: AsyncTestClient, admin_token: str, name: str):  # noqa: ANN202 — an httpx response
    return await gateway.post("/admin/teams", json={"name": name, "password": "long-enough-pw"},
                              headers=bearer(admin_token))


DISGUISES = {
    "cyrillic": lambda name: name.translate(CYRILLIC),
    "greek": lambda name: name.replace("a", "\u03b1").replace("p", "\u03c1"),  # α, ρ
    "fullwidth": lambda name: name.translate(FULLWIDTH),
    "fullwidth capitals": lambda name: name.upper().translate(FULLWIDTH),
    "hyphen": lambda name: name.replace("-", "\u2010"),  # HYPHEN for HYPHEN-MINUS
    "en dash": lambda name: name.replace("-", "\u2013"),
    "doubled spaces": lambda name: name.replace(" ", "  "),  # a web page shows them as one
}


@pytest.mark.parametrize("disguise", DISGUISES)
async def test_a_lookalike_of_a_team_is_refused_on_create(gateway: AsyncTestClient, admin_token: str,
                                                          disguise: str) -> None:
    name = _base()
    if disguise == "doubled spaces":
        name = name.replace("-", " ")
    assert (await _create(gateway, admin_token, name)).status_code == 200
    lookalike = DISGUISES[disguise](name)
    assert lookalike != name
    refused = await _create(gateway, admin_token, lookalike)
    assert refused.status_code == 409, refused.text
    assert LOOKS_THE_SAME in refused.json()["detail"]


async def test_a_lookalike_of_an_admin_is_refused(gateway: AsyncTestClient, admin_token: str) -> None:
    refused = await _create(gateway, admin_token, ADMIN[0].translate(CYRILLIC))  # rооt-аdmin
    assert refused.status_code == 409 and LOOKS_THE_SAME in refused.json()["detail"]


async def test_a_rename_to_a_lookalike_is_refused_and_to_its_own_lookalike_is_not(
    gateway: AsyncTestClient, admin_token: str
) -> None:
    taken = _base()
    assert (await _create(gateway, admin_token, taken)).status_code == 200
    team_id, name, _ = await new_team(gateway, admin_token)
    renamed = await gateway.put(f"/teams/{team_id}", json={"name": taken.translate(CYRILLIC)},
                                headers=bearer(admin_token))
    assert renamed.status_code == 409 and LOOKS_THE_SAME in renamed.json()["detail"]
    # The team's own name in other look-alike characters is still the same team: nothing to refuse.
    own = await gateway.put(f"/teams/{team_id}", json={"name": name.upper()}, headers=bearer(admin_token))
    assert own.status_code == 200 and own.json()["name"] == name.upper()


async def test_a_deleted_teams_name_and_its_lookalikes_are_free_again(
    gateway: AsyncTestClient, admin_token: str
) -> None:
    name = _base()
    created = await _create(gateway, admin_token, name)
    await gateway.delete(f"/admin/teams/{created.json()['id']}", headers=bearer(admin_token))
    again = await _create(gateway, admin_token, name.translate(CYRILLIC))
    assert again.status_code == 200, again.text


@pytest.mark.parametrize(
    "name",
    ["\u3164", "\u3164\u3164\u3164", "\u2800", "\u2800 \u2800", "\u0301\u0302\u0303", "\uffa0\u115f"],
    ids=["hangul filler", "three hangul fillers", "braille blank", "braille blanks", "combining marks only",
         "other hangul fillers"],
)
async def test_a_name_with_nothing_visible_is_refused_on_create_and_rename(
    gateway: AsyncTestClient, admin_token: str, name: str
) -> None:
    refused = await _create(gateway, admin_token, name)
    assert refused.status_code == 422 and NEEDS_VISIBLE in refused.json()["detail"]
    team_id, _, _ = await new_team(gateway, admin_token)
    renamed = await gateway.put(f"/teams/{team_id}", json={"name": name}, headers=bearer(admin_token))
    assert renamed.status_code == 422 and NEEDS_VISIBLE in renamed.json()["detail"]


async def test_an_invisible_character_in_a_name_is_refused(gateway: AsyncTestClient, admin_token: str) -> None:
    refused = await _create(gateway, admin_token, f"{_base()}\u3164")
    assert refused.status_code == 422
    assert "invisible character (U+3164 HANGUL FILLER)" in refused.json()["detail"]


async def test_csv_import_refuses_lookalikes_and_invisible_names_row_by_row(
    gateway: AsyncTestClient, admin_token: str
) -> None:
    existing, fresh = _base(), _base()
    assert (await _create(gateway, admin_token, existing)).status_code == 200
    csv = (f"name,password\n{existing.translate(CYRILLIC)},password-1\n{fresh},password-2\n"
           f"{fresh.translate(FULLWIDTH)},password-3\n\u3164,password-4\n").encode()
    response = await gateway.post("/admin/teams/batch", files={"file": ("teams.csv", csv, "text/csv")},
                                  headers=bearer(admin_token))
    assert response.status_code == 200, response.text
    rows = {row["line"]: row for row in response.json()["rows"]}
    assert (rows[2]["status"], LOOKS_THE_SAME in rows[2]["reason"]) == ("refused", True)
    assert rows[3]["status"] == "created"
    assert rows[4] == {**rows[4], "status": "refused", "reason": "looks the same as the name on line 3"}
    assert (rows[5]["status"], NEEDS_VISIBLE in rows[5]["reason"]) == ("refused", True)


async def test_the_keys_are_indexed_columns(pg_pool: asyncpg.Pool, gateway: AsyncTestClient,
                                            admin_token: str) -> None:
    team_id, name, _ = await new_team(gateway, admin_token)
    row = await pg_pool.fetchrow("SELECT name_skeleton, name_folded_skeleton FROM auth.accounts WHERE id = $1",
                                 team_id)
    assert row is not None and tuple(row) == lookalike_keys(name)
    indexes = {r["indexname"]: r["indexdef"] for r in await pg_pool.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'auth' AND tablename = 'accounts'")}
    for index, column in (("accounts_name_skeleton_live", "name_skeleton"),
                          ("accounts_name_folded_skeleton_live", "name_folded_skeleton")):
        assert indexes[index].startswith("CREATE UNIQUE INDEX"), indexes[index]
        assert f"({column}) WHERE (deleted_at IS NULL)" in indexes[index], indexes[index]


async def test_rows_from_before_the_keys_are_keyed_at_start_the_older_winning(
    pg_pool: asyncpg.Pool, gateway: AsyncTestClient, admin_token: str
) -> None:
    """Two legacy accounts whose names look alike (possible before migration 004), unkeyed: keying them gives the
    older its keys and leaves the newer to be renamed; a third look-alike is then refused."""
    older = _base()
    ids = [await pg_pool.fetchval(
        "INSERT INTO auth.accounts (name, role, password_hash) VALUES ($1, 'team', 'x') RETURNING id", name)
        for name in (older, older.translate(CYRILLIC))]
    try:
        async with pg_pool.acquire() as conn:
            assert await accounts.key_names(conn) >= 1
        keyed = await pg_pool.fetch("SELECT id, name_skeleton FROM auth.accounts WHERE id = ANY($1) ORDER BY id", ids)
        assert [row["name_skeleton"] for row in keyed] == [lookalike_keys(older).skeleton, None]
        refused = await _create(gateway, admin_token, older.replace("a", "\u03b1"))
        assert refused.status_code == 409 and LOOKS_THE_SAME in refused.json()["detail"]
    finally:
        await pg_pool.execute("UPDATE auth.accounts SET deleted_at = now() WHERE id = ANY($1)", ids)
