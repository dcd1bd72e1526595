"""Hostile identity input through the public API of the running platform (the gateway as its own uvicorn process over
real sockets, auth_service as a process, real NATS and PostgreSQL), a sibling of `test_hostile_input.py`'s corpus:
team names that look like an existing one (Cyrillic and Greek letters swapped in, fullwidth and other compatibility
forms, `rn` for `m`) or that show nothing (U+3164 HANGUL FILLER, U+2800 BRAILLE PATTERN BLANK, combining marks
alone), on create, rename and CSV import; and refresh tokens replayed, raced and forged.

Each case says how it is sent and what it must end as: a 4xx with its exact status and the words of its `detail`,
or what else must hold. After the corpus: no answer was a 5xx, the gateway is ready, a login and a refresh still
work, and neither the gateway nor auth_service logged an error."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from tests.api import bearer, new_team
from tests.conftest import ADMIN
from tests.system.corpus import Holds, Outcome, Refused, errors_logged_since, outcome_of
from tests.system.corpus import log_marks as marks_of

pytestmark = pytest.mark.system

TAG = uuid.uuid4().hex[:8]  # names this module creates are its own, whatever else the session created
LOGGED = ("gateway", "auth_service")
LOOKS_THE_SAME = "a team with a name that looks the same"
NEEDS_VISIBLE = "a team name needs a visible character"
REUSED = "refresh token was already used"
REFRESH_REFUSED = "refresh token is invalid, used, expired or revoked; log in again"
PASSWORD = "long-enough-1"
# Every answer the corpus got, as (case, HTTP status): none may be a 5xx.
ANSWERS: list[tuple[str, int]] = []


# --- how a case is sent, and what it must end as -------------------------------------------------------------------


@dataclass
class World:
    http: httpx.AsyncClient
    admin: str
    team_id: int  # the corpus's own team (named OWN), that renames are tried on
    case: str = ""

    async def login(self, name: str, password: str) -> dict[str, str]:
        response = await self.http.post("/api/v1/auth/login", json={"name": name, "password": password})
        assert response.status_code == 200, response.text
        return response.json()

    async def fresh_login(self) -> dict[str, str]:
        """A new team of its own, logged in (a token family of its own)."""
        name = f"login-{uuid.uuid4().hex[:8]}"
        created = await self.http.post("/api/v1/teams", headers=bearer(self.admin),
                                       json={"name": name, "password": PASSWORD})
        assert created.status_code == 200, created.text
        return await self.login(name, PASSWORD)

    async def refresh(self, refresh_token: str) -> httpx.Response:
        return await self.http.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})

    async def me(self, access_token: str) -> int:
        return (await self.http.get("/api/v1/auth/me", headers=bearer(access_token))).status_code


Send = Callable[[World], Awaitable[Outcome]]


@dataclass(frozen=True)
class Case:
    id: str
    send: Send
    expect: Refused | Holds


def http(method: str, path: str, who: str = "admin", **options: Any) -> Send:
    async def send(world: World) -> Outcome:
        headers = bearer(world.admin) if who == "admin" else {}
        return outcome_of(await world.http.request(method, path, headers=headers, **options))

    return send


def team_named(name: str) -> Send:
    """An admin creates a team of this name; when it is accepted, the name it is shown with."""

    async def send(world: World) -> Outcome:
        outcome = await http("POST", "/api/v1/teams", json={"name": name, "password": PASSWORD})(world)
        if outcome.status == 200:
            shown = await http("GET", f"/api/v1/teams/{outcome.body['id']}")(world)
            return Outcome(200, "", {**outcome.body, "shown": shown.body["name"]})
        return outcome

    return send


def renamed_to(name: str) -> Send:
    """The corpus's own team renamed (by an admin) to this name."""

    async def send(world: World) -> Outcome:
        return await http("PUT", f"/api/v1/teams/{world.team_id}", json={"name": name})(world)

    return send


def imported(*names: str) -> Send:
    """A CSV of these names; the outcome's body maps each name to its row's (status, reason)."""

    async def send(world: World) -> Outcome:
        csv = "name,password\n" + "".join(f"{name},{PASSWORD}\n" for name in names)
        outcome = await http("POST", "/api/v1/admin/teams/batch",
                             files={"file": ("teams.csv", csv.encode(), "text/csv")})(world)
        if outcome.status != 200:
            return outcome
        return Outcome(200, "", {row["name"]: (row["status"], row["reason"]) for row in outcome.body["rows"]})

    return send


# --- the cases that need more than one request ------------------------------------------------------------------


async def replayed_refresh(world: World) -> Outcome:
    """Log in (R1, A1), refresh (R2, A2), replay R1: the replay's answer, and what R1's successors answer after."""
    first = await world.fresh_login()
    rotated = await world.refresh(first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    replay = outcome_of(await world.refresh(first["refresh_token"]))
    after = {"R2": (await world.refresh(second["refresh_token"])).status_code,
             "A2": await world.me(second["access_token"]), "A1": await world.me(first["access_token"])}
    return Outcome(replay.status, replay.detail, {**(replay.body or {}), "after": after})


async def replayed_twice(world: World) -> Outcome:
    first = await world.fresh_login()
    assert (await world.refresh(first["refresh_token"])).status_code == 200
    await world.refresh(first["refresh_token"])
    return outcome_of(await world.refresh(first["refresh_token"]))


async def raced_refresh(world: World) -> Outcome:
    """Two refreshes of one token at once: one wins, the other is a reuse that revokes the winner's tokens too."""
    tokens = await world.fresh_login()
    answers = await asyncio.gather(*(world.refresh(tokens["refresh_token"]) for _ in range(2)))
    statuses = sorted(answer.status_code for answer in answers)
    winners = [answer.json() for answer in answers if answer.status_code == 200]
    after = {}
    if winners:
        after = {"R2": (await world.refresh(winners[0]["refresh_token"])).status_code,
                 "A2": await world.me(winners[0]["access_token"])}
    return Outcome(statuses[-1], "", {"statuses": statuses, "after": after})


async def other_login_after_a_replay(world: World) -> Outcome:
    """Two logins of one team; the first's refresh token replayed: the second login goes on working."""
    name = f"two-logins-{uuid.uuid4().hex[:8]}"
    assert (await http("POST", "/api/v1/teams", json={"name": name, "password": PASSWORD})(world)).status == 200
    first, second = await world.login(name, PASSWORD), await world.login(name, PASSWORD)
    await world.refresh(first["refresh_token"])
    await world.refresh(first["refresh_token"])
    return Outcome(await world.me(second["access_token"]), "",
                   {"refresh": (await world.refresh(second["refresh_token"])).status_code})


async def refresh_token_as_bearer(world: World) -> Outcome:
    tokens = await world.fresh_login()
    return outcome_of(await world.http.get("/api/v1/auth/me", headers=bearer(tokens["refresh_token"])))


async def access_token_as_refresh(world: World) -> Outcome:
    tokens = await world.fresh_login()
    return outcome_of(await world.refresh(tokens["access_token"]))


def refresh_with(token: str) -> Send:
    async def send(world: World) -> Outcome:
        return outcome_of(await world.refresh(token))

    return send


# --- the corpus ------------------------------------------------------------------------------------------------------

CYRILLIC = str.maketrans("aeopcxiAEOPCXTHMBK", "аеорсхіАЕОРСХТНМВК")
GREEK = str.maketrans("aoipATEMHKNOPXZBIY", "αοιρΑΤΕΜΗΚΝΟΡΧΖΒΙΥ")
FULLWIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})
BOLD = str.maketrans({**{chr(0x61 + i): chr(0x1D41A + i) for i in range(26)},
                      **{chr(0x41 + i): chr(0x1D400 + i) for i in range(26)}})
CIRCLED = str.maketrans({chr(0x61 + i): chr(0x24D0 + i) for i in range(26)})
# The corpus's own names, created by the `world` fixture before the cases run.
OWN = f"spacecraft-{TAG}"


def lookalikes() -> list[Case]:
    looks_the_same = Refused(409, LOOKS_THE_SAME)
    return [
        Case("'аdmin' (Cyrillic а) beside 'admin'", team_named("аdmin"), looks_the_same),
        Case("'аdmіn' (Cyrillic а, і) beside 'admin'", team_named("аdmіn"), looks_the_same),
        Case("'Αdmin' (Greek Α) beside 'admin'", team_named("Αdmin"), looks_the_same),
        Case("'АDMIN' (Cyrillic А, then capitals) beside 'admin'", team_named("АDMIN"), looks_the_same),
        Case("fullwidth 'ａｄｍｉｎ' beside 'admin'", team_named("admin".translate(FULLWIDTH)), looks_the_same),
        Case("fullwidth 'ＡＤＭＩＮ' beside 'admin'", team_named("ADMIN".translate(FULLWIDTH)), looks_the_same),
        Case("bold '𝐚𝐝𝐦𝐢𝐧' beside 'admin'", team_named("admin".translate(BOLD)), looks_the_same),
        Case("circled 'ⓐⓓⓜⓘⓝ' beside 'admin'", team_named("admin".translate(CIRCLED)), looks_the_same),
        Case("'adrnin' (rn for m) beside 'admin'", team_named("adrnin"), looks_the_same),
        Case("'admin' with a variation selector", team_named("admin\ufe0f"), looks_the_same),
        Case("the first admin's name in Cyrillic", team_named(ADMIN[0].translate(CYRILLIC)), looks_the_same),
        Case("a team's name with Cyrillic letters swapped in", team_named(OWN.translate(CYRILLIC)), looks_the_same),
        Case("a team's name with Greek letters swapped in", team_named(OWN.translate(GREEK)), looks_the_same),
        Case("a team's name in Greek capitals", team_named(OWN.upper().translate(GREEK)), looks_the_same),
        Case("a team's name in fullwidth forms", team_named(OWN.translate(FULLWIDTH)), looks_the_same),
        Case("a team's name with an ideographic space", team_named(OWN.replace("-", "\u3000")),
             Holds("a space is not a hyphen: another name", lambda o: o.status == 200)),
        Case("a team's name with U+2010 HYPHEN", team_named(OWN.replace("-", "\u2010")), looks_the_same),
        Case("rename to 'аdmin' (Cyrillic а)", renamed_to("аdmin"), looks_the_same),
        Case("rename to the first admin's name in Greek", renamed_to(ADMIN[0].translate(GREEK)), looks_the_same),
        Case("rename to its own name in Cyrillic", renamed_to(OWN.translate(CYRILLIC)),
             Holds("its own look-alike: the same team, renamed", lambda o: o.status == 200
                   and o.body["name"] == OWN.translate(CYRILLIC))),
        Case("CSV: 'аdmin', and a row like an earlier row", imported("аdmin", f"csv-{TAG}", f"csv-{TAG}".translate(
            FULLWIDTH)), Holds("each look-alike refused on its row, the others created", lambda o: o.status == 200
                               and o.body["аdmin"][0] == "refused" and LOOKS_THE_SAME in o.body["аdmin"][1]
                               and o.body[f"csv-{TAG}"] == ("created", "")
                               and o.body[f"csv-{TAG}".translate(FULLWIDTH)] == (
                                   "refused", "looks the same as the name on line 3"))),
    ]


def invisible_names() -> list[Case]:
    needs_visible = Refused(422, NEEDS_VISIBLE)
    return [
        Case("U+3164 HANGUL FILLER", team_named("\u3164"), needs_visible),
        Case("three U+3164", team_named("\u3164\u3164\u3164"), needs_visible),
        Case("U+2800 BRAILLE PATTERN BLANK", team_named("\u2800"), needs_visible),
        Case("U+2800, a space, U+3164", team_named("\u2800 \u3164"), needs_visible),
        Case("U+FFA0 and U+115F (other Hangul fillers)", team_named("\uffa0\u115f"), needs_visible),
        Case("U+1D159 MUSICAL SYMBOL NULL NOTEHEAD", team_named("\U0001d159"), needs_visible),
        Case("combining marks only", team_named("\u0301\u0308\u0327"), needs_visible),
        Case("an enclosing mark only", team_named("\u20dd"), needs_visible),
        Case("combining marks after a space", team_named(" \u0301\u0301"), needs_visible),
        Case("ideographic spaces only", team_named("\u3000\u3000"), Refused(422, "team name is empty")),
        Case("'admin' + U+3164", team_named("admin\u3164"),
             Refused(422, "team name contains an invisible character (U+3164 HANGUL FILLER)")),
        Case("U+2800 inside a name", team_named(f"team\u2800{TAG}"),
             Refused(422, "team name contains an invisible character (U+2800 BRAILLE PATTERN BLANK)")),
        Case("U+034F COMBINING GRAPHEME JOINER inside a name", team_named(f"te\u034fam{TAG}"),
             Refused(422, "invisible character (U+034F COMBINING GRAPHEME JOINER)")),
        Case("rename to U+3164", renamed_to("\u3164"), needs_visible),
        Case("rename to combining marks", renamed_to("\u0300\u0301"), needs_visible),
        Case("CSV: U+3164 and U+2800 rows", imported("\u3164", "\u2800"),
             Holds("both rows refused for having nothing visible", lambda o: o.status == 200
                   and all(status == "refused" and NEEDS_VISIBLE in reason for status, reason in o.body.values()))),
        *(Case(f"an ordinary name: {name!r}", team_named(name),
               Holds("accepted and shown as typed", lambda o, name=name: o.status == 200 and o.body["shown"] == name))
          for name in (f"Équipe Ω {TAG}", f"北京 {TAG}", f"❤️ fans {TAG}", f"한국팀 {TAG}", f"Альфа {TAG}")),
    ]


def refresh_tokens() -> list[Case]:
    revoked = {"R2": 401, "A2": 401, "A1": 401}
    return [
        Case("a spent refresh token replayed", replayed_refresh,
             Holds("401 saying why; R1's successor and both access tokens refused after; no family id in the answer",
                   lambda o: o.status == 401 and REUSED in o.detail and "log in again" in o.detail
                   and o.body["after"] == revoked and "revoked_family" not in o.body)),
        Case("a spent refresh token replayed twice", replayed_twice, Refused(401, REUSED)),
        Case("two refreshes racing with one token", raced_refresh,
             Holds("one wins, the other is a reuse; the winner's tokens are revoked", lambda o:
                   o.body["statuses"] == [200, 401] and o.body["after"] == {"R2": 401, "A2": 401})),
        Case("another login of the team after a replay", other_login_after_a_replay,
             Holds("untouched: its access token and refresh token still work",
                   lambda o: o.status == 200 and o.body["refresh"] == 200)),
        Case("a refresh token as a bearer token", refresh_token_as_bearer,
             Refused(401, "Could not validate credentials: malformed token")),
        Case("an access token as a refresh token", access_token_as_refresh, Refused(401, REFRESH_REFUSED)),
        Case("an empty refresh token", refresh_with(""), Refused(401, REFRESH_REFUSED)),
        Case("a refresh token of 64 KiB", refresh_with("x" * (64 << 10)), Refused(401, REFRESH_REFUSED)),
        Case("a refresh token with NUL", refresh_with("a\u0000b"), Refused(401, REFRESH_REFUSED)),
        Case("a refresh token that is SQL", refresh_with("' OR used_at IS NOT NULL --"), Refused(401, REFRESH_REFUSED)),
        Case("a refresh token for a list", http("POST", "/api/v1/auth/refresh", "nobody", json={"refresh_token": []}),
             Refused(400, "$.refresh_token")),
    ]


CORPUS = [*lookalikes(), *invisible_names(), *refresh_tokens()]


# --- the tests -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def log_marks(tmp_path_factory: pytest.TempPathFactory, gateway_url: str) -> dict[Path, int]:
    """Where the gateway's and auth_service's logs stand before the corpus."""
    return marks_of(tmp_path_factory.getbasetemp(), LOGGED)


@pytest.fixture(scope="module")
async def world(gateway: AsyncTestClient, gateway_url: str, admin_token: str, log_marks: dict[Path, int]
                ) -> AsyncIterator[World]:
    # 'admin' as the demo seeds it (409 if an earlier module made it), and the corpus's own team.
    created = await gateway.post("/api/v1/teams", json={"name": "admin", "password": PASSWORD},
                                 headers=bearer(admin_token))
    assert created.status_code in (200, 409), created.text
    own = await gateway.post("/api/v1/teams", json={"name": OWN, "password": PASSWORD}, headers=bearer(admin_token))
    assert own.status_code == 200, own.text
    await new_team(gateway, admin_token)  # and one more of the usual kind
    world: World | None = None

    async def record(response: httpx.Response) -> None:
        ANSWERS.append((world.case if world else "setup", response.status_code))

    async with httpx.AsyncClient(base_url=gateway_url, timeout=60, event_hooks={"response": [record]}) as client:
        world = World(client, admin_token, own.json()["id"])
        yield world


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
async def test_hostile_identity_input_gets_a_clear_refusal(world: World, case: Case) -> None:
    world.case = case.id
    case.expect.check(await case.send(world))


async def test_after_the_corpus_identity_is_whole(world: World, log_marks: dict[Path, int]) -> None:
    world.case = "after the corpus"
    server_errors = [(case, status) for case, status in ANSWERS if status >= 500]
    assert not server_errors, server_errors
    assert (await world.http.get("/readiness")).status_code == 200
    tokens = await world.fresh_login()
    rotated = await world.refresh(tokens["refresh_token"])
    assert rotated.status_code == 200 and await world.me(rotated.json()["access_token"]) == 200
    errors = errors_logged_since(log_marks)
    assert not errors, "\n".join(errors)
