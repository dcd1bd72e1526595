"""Hostile logins and scrapes through the public API of the running platform (the gateway as its own uvicorn process
over real sockets, auth_service as a process, real NATS and PostgreSQL), a sibling of `test_hostile_input.py`'s
corpus: password guessing against one name — from one address, from a new address each time, all at once, for a
name that does not exist, in other spellings — and `/metrics` asked for by peers outside PODIUM_METRICS_ALLOW, with
and without a forged X-Forwarded-For.

The session's auth_service runs with the default limit (PODIUM_LOGIN_FAILURES_PER_ACCOUNT failures per name, 10
unless its environment says otherwise, within PODIUM_LOGIN_LOCKOUT_S: far longer than this module). Every name this
module guesses at is its own, so what ran before does not count against it. Each client speaks from a loopback
address of its own, so that the gateway's per-address limit (shared by the session) never answers for these cases.

Each case says how it is sent and what it must end as: a 4xx with its exact status and the words of its `detail`,
or what else must hold. After the corpus: no answer was a 5xx, the gateway is ready, a login still works, and
neither the gateways nor auth_service logged an error."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient

from auth_service.app import AuthServiceSettings
from deploy.stack import EmbeddedStack
from tests.api import bearer
from tests.conftest import service_process
from tests.system.corpus import Holds, Outcome, Refused, errors_logged_since, outcome_of
from tests.system.corpus import log_marks as marks_of

pytestmark = pytest.mark.system

LOGGED = ("gateway", "auth_service")
BAD_LOGIN = "Incorrect team name or password"
TOO_MANY = "too many failed logins for this name"
WRONG = "not-the-password"
PASSWORD = "long-enough-1"
METRICS_PEER = "127.0.0.1"  # the only peer the module's own gateway serves /metrics to
# Every answer the corpus got, as (case, HTTP status): none may be a 5xx.
ANSWERS: list[tuple[str, int]] = []


def fresh_loopback() -> str:
    """A loopback address no other client of the session uses (127.x.y.z, never 127.0.0.1)."""
    return "127." + ".".join(str(2 + secrets.randbelow(252)) for _ in range(3))


# --- how a case is sent, and what it must end as -------------------------------------------------------------------


@dataclass
class World:
    gateway_url: str  # the session's gateway: /metrics for loopback only (the default)
    metrics_only_url: str  # the module's own gateway: /metrics for METRICS_PEER only
    admin: str
    limit: int  # failed logins per name before its logins are refused
    window_s: int
    case: str = ""
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    record: Callable[[httpx.Response], Awaitable[None]] | None = None

    def client(self, source: str, url: str | None = None) -> httpx.AsyncClient:
        """A client speaking from `source` (kept for the module, closed at its end)."""
        key = f"{source} {url or self.gateway_url}"
        if key not in self.clients:
            assert self.record is not None, "the world fixture sets its response hook first"
            self.clients[key] = httpx.AsyncClient(
                base_url=url or self.gateway_url, timeout=60, event_hooks={"response": [self.record]},
                transport=httpx.AsyncHTTPTransport(local_address=source),
            )
        return self.clients[key]

    async def login(self, name: str, password: str, source: str) -> Outcome:
        return outcome_of(await self.client(source).post("/auth/login", json={"name": name, "password": password}))

    async def new_team(self) -> str:
        name = f"guessed-{uuid.uuid4().hex[:8]}"
        created = await self.client(fresh_loopback()).post(
            "/api/v1/teams", headers=bearer(self.admin), json={"name": name, "password": PASSWORD})
        assert created.status_code == 200, created.text
        return name


Send = Callable[[World], Awaitable[Outcome]]


@dataclass(frozen=True)
class Case:
    id: str
    send: Send
    expect: Refused | Holds


# --- guessing passwords --------------------------------------------------------------------------------------------


async def failures(world: World, name: str, times: int, source: str | None = None) -> list[Outcome]:
    """`times` wrong passwords for `name`, one after another, from `source` (or each from a new address)."""
    return [await world.login(name, WRONG, source or fresh_loopback()) for _ in range(times)]


def then_the_right_password(spelled: Callable[[str], str] = str, new_addresses: bool = False) -> Send:
    """The limit's wrong passwords for a team, then its right password, as `spelled`."""

    async def send(world: World) -> Outcome:
        name, source = await world.new_team(), fresh_loopback()
        before = await failures(world, name, world.limit, None if new_addresses else source)
        last = await world.login(spelled(name), PASSWORD, fresh_loopback() if new_addresses else source)
        return Outcome(last.status, last.detail, {"before": [(o.status, o.detail) for o in before]}, last.retry_after)

    return send


async def unknown_name(world: World) -> Outcome:
    name, source = f"nobody-{uuid.uuid4().hex}", fresh_loopback()
    before = await failures(world, name, world.limit, source)
    last = await world.login(name, WRONG, source)
    return Outcome(last.status, last.detail, {"before": [(o.status, o.detail) for o in before]}, last.retry_after)


async def all_at_once(world: World) -> Outcome:
    """The limit's wrong passwords and five more, sent at once: only the limit's worth reach the password check."""
    name = await world.new_team()
    answers = await asyncio.gather(*(world.login(name, WRONG, fresh_loopback()) for _ in range(world.limit + 5)))
    last = max(answers, key=lambda answer: answer.status)
    return Outcome(last.status, last.detail, {"statuses": sorted(answer.status for answer in answers)},
                   last.retry_after)


async def another_team_while_one_is_locked(world: World) -> Outcome:
    locked, other, source = await world.new_team(), await world.new_team(), fresh_loopback()
    await failures(world, locked, world.limit + 1, source)
    assert (await world.login(locked, PASSWORD, source)).status == 429
    return await world.login(other, PASSWORD, source)


async def lookalike_of_a_locked_name(world: World) -> Outcome:
    """A Cyrillic 'е' for 'e' in a locked team's name: another (unknown) name, with a count of its own."""
    locked, source = await world.new_team(), fresh_loopback()
    await failures(world, locked, world.limit + 1, source)
    return await world.login(locked.replace("e", "е"), PASSWORD, source)


async def success_between_failures(world: World) -> Outcome:
    name, source = await world.new_team(), fresh_loopback()
    answers = []
    for _ in range(3):
        answers += [o.status for o in await failures(world, name, world.limit - 1, source)]
        answers.append((await world.login(name, PASSWORD, source)).status)
    return Outcome(answers[-1], "", {"answers": answers})


def repeated(name: str, times: Callable[[World], int]) -> Send:
    """Wrong passwords for this name (sent as given), `times` of them; the last answer, with every status."""

    async def send(world: World) -> Outcome:
        answers = await failures(world, name, times(world), fresh_loopback())
        return Outcome(answers[-1].status, answers[-1].detail, {"statuses": [o.status for o in answers]},
                       answers[-1].retry_after)

    return send


# --- asking for /metrics -------------------------------------------------------------------------------------------


def metrics(source: Callable[[], str], *, own: bool = True, path: str = "/metrics",
            headers: dict[str, str] | None = None) -> Send:
    """GET /metrics from `source`, on the module's own gateway (`own`) or the session's."""

    async def send(world: World) -> Outcome:
        client = world.client(source(), world.metrics_only_url if own else None)
        response = await client.get(path, headers=headers)
        if response.status_code == 200:
            return Outcome(200, "", {"prometheus": response.headers["content-type"].startswith("text/plain")
                                     and "# TYPE " in response.text})
        return outcome_of(response)

    return send


# --- the corpus ------------------------------------------------------------------------------------------------------


def refused_after_the_limit(o: Outcome) -> bool:
    return (o.status == 429 and TOO_MANY in o.detail and o.retry_after is not None
            and f"refused for {o.retry_after} s" in o.detail
            and all(status == 401 and detail == BAD_LOGIN for status, detail in o.body["before"]))


def logins() -> list[Case]:
    locked = Holds("the limit's 401s, then a 429 with Retry-After and the reason, the right password included",
                   refused_after_the_limit)
    return [
        Case("the limit's wrong passwords, then the right one", then_the_right_password(), locked),
        Case("the limit's wrong passwords each from a new address, then the right one from another",
             then_the_right_password(new_addresses=True), locked),
        Case("the right password in capitals and padded, after the limit",
             then_the_right_password(lambda name: f"  {name.upper()}\t"), locked),
        Case("a name that does not exist, one past the limit", unknown_name,
             Holds("answered exactly like a team's name: 401s, then the same 429", refused_after_the_limit)),
        Case("the limit's wrong passwords and five more, all at once", all_at_once,
             Holds("only the limit's worth checked (401), the rest refused before hashing (429)",
                   lambda o: o.body["statuses"] == [401] * (len(o.body["statuses"]) - 5) + [429] * 5
                   and TOO_MANY in o.detail)),
        Case("another team while one is locked", another_team_while_one_is_locked,
             Holds("logged in: one name's limit is not another's", lambda o: o.status == 200
                   and o.body["token_type"] == "bearer")),
        Case("a look-alike spelling of a locked name", lookalike_of_a_locked_name, Refused(401, BAD_LOGIN)),
        Case("a success between each run of wrong passwords", success_between_failures,
             Holds("never refused: a success starts the count afresh", lambda o: 429 not in o.body["answers"]
                   and o.body["answers"].count(200) == 3)),
        Case("a name of 100 KB, one past the limit", repeated("x" * 100_000 + uuid.uuid4().hex, lambda w: w.limit + 1),
             Holds("counted like any name", lambda o: o.status == 429 and TOO_MANY in o.detail
                   and o.body["statuses"][:-1] == [401] * (len(o.body["statuses"]) - 1))),
        Case("a name with NUL, one past the limit", repeated(f"a\u0000{uuid.uuid4().hex}", lambda w: w.limit + 1),
             Holds("refused as unstorable every time, never counted", lambda o: set(o.body["statuses"]) == {422}
                   and "cannot be stored" in o.detail)),
        Case("an empty name, one past the limit", repeated("", lambda w: w.limit + 1),
             Holds("counted like any name", lambda o: o.status == 429 and TOO_MANY in o.detail)),
    ]


def scrapes() -> list[Case]:
    not_found = Refused(404, "Not Found")
    served = Holds("served: the Prometheus text", lambda o: o.status == 200 and o.body["prometheus"])
    return [
        Case("/metrics from a peer outside PODIUM_METRICS_ALLOW", metrics(fresh_loopback), not_found),
        Case("/metrics/ from a peer outside PODIUM_METRICS_ALLOW", metrics(fresh_loopback, path="/metrics/"),
             not_found),
        Case("/metrics from outside, claiming X-Forwarded-For: 127.0.0.1",
             metrics(fresh_loopback, headers={"X-Forwarded-For": METRICS_PEER}), not_found),
        Case("/metrics from outside, claiming Forwarded and X-Real-IP",
             metrics(fresh_loopback, headers={"Forwarded": f"for={METRICS_PEER}", "X-Real-IP": METRICS_PEER}),
             not_found),
        Case("/metrics from the allowed peer", metrics(lambda: METRICS_PEER), served),
        Case("/metrics on the default gateway from 127.0.0.1", metrics(lambda: "127.0.0.1", own=False), served),
        Case("/metrics on the default gateway from another loopback address", metrics(fresh_loopback, own=False),
             served),
    ]


CORPUS = [*logins(), *scrapes()]


# --- the tests -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def log_marks(tmp_path_factory: pytest.TempPathFactory, gateway_url: str) -> dict[Path, int]:
    """Where the session's gateway's and auth_service's logs stand before the corpus."""
    return marks_of(tmp_path_factory.getbasetemp(), LOGGED)


@pytest.fixture(scope="module")
def metrics_only_gateway(stack: EmbeddedStack, auth_service: dict[str, str], gateway_url: str,
                         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A gateway of the module's own that serves /metrics to METRICS_PEER only; its URL and log."""
    folder = tmp_path_factory.mktemp("metrics-gateway")
    with service_process("gateway", stack, folder, PODIUM_METRICS_ALLOW=f"{METRICS_PEER}/32") as env:
        yield f"http://127.0.0.1:{env['PODIUM_GATEWAY_HTTP_PORT']}", folder / "gateway.log"


@pytest.fixture(scope="module")
async def world(gateway: AsyncTestClient, gateway_url: str, admin_token: str, auth_service: dict[str, str],
                metrics_only_gateway: tuple[str, Path], log_marks: dict[Path, int]) -> AsyncIterator[World]:
    fields = AuthServiceSettings.model_fields
    default_limit = str(fields["login_failures_per_account"].default)
    limit = int(auth_service.get("PODIUM_LOGIN_FAILURES_PER_ACCOUNT", default_limit))
    window_s = int(auth_service.get("PODIUM_LOGIN_LOCKOUT_S", str(fields["login_lockout_s"].default)))
    world = World(gateway_url, metrics_only_gateway[0], admin_token, limit, window_s)

    async def record(response: httpx.Response) -> None:
        ANSWERS.append((world.case or "setup", response.status_code))

    world.record = record
    try:
        yield world
    finally:
        for client in world.clients.values():
            await client.aclose()


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
async def test_hostile_logins_and_scrapes_get_a_clear_refusal(world: World, case: Case) -> None:
    world.case = case.id
    outcome = await case.send(world)
    case.expect.check(outcome)
    if outcome.status == 429:
        assert 0 < int(outcome.retry_after or 0) <= world.window_s, outcome


async def test_after_the_corpus_logins_are_whole(world: World, log_marks: dict[Path, int],
                                                 metrics_only_gateway: tuple[str, Path]) -> None:
    world.case = "after the corpus"
    server_errors = [(case, status) for case, status in ANSWERS if status >= 500]
    assert not server_errors, server_errors
    client = world.client(fresh_loopback())
    assert (await client.get("/readiness")).status_code == 200
    name = await world.new_team()
    assert (await world.login(name, PASSWORD, fresh_loopback())).status == 200
    marks = {**log_marks, metrics_only_gateway[1]: 0}
    errors = errors_logged_since(marks)
    assert not errors, "\n".join(errors)
