"""auth_service's request/reply handlers in memory (FastStream's TestNatsBroker, no server), built from the
service's Deps: every refusal a caller can meet before the database is asked — wrong role, a field breaking a rule,
a malformed CSV or request — answers its status and a reason a person can act on, and touches neither the database
nor the token buckets; the JWKS and the account rules come from the Deps and the settings alone. The same
operations run against real servers in tests/service/identity."""

from __future__ import annotations

import msgspec
import pytest
from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker, TestNatsBroker

from auth_service.app import create_app
from auth_service.bootstrap import NAME, AuthServiceSettings, Deps
from auth_service.rules import MAX_NAME_LENGTH, MAX_PASSWORD_LENGTH, MAX_TEAM_SIZE, MIN_PASSWORD_LENGTH
from auth_service.tokens import SigningKey
from podium_runtime.service import create_bus
from proto import identity as ops
from proto.rpc import Call, Operation, Principal, ServiceError
from tests.unit.fakes import Untouchable

TEAM = Principal(account_id="7", name="team-7", role="team")
ADMIN = Principal(account_id="1", name="admin", role="admin")
KEY = SigningKey.generate()
SETTINGS = AuthServiceSettings(jwt_issuer="podium-test", jwt_audience="podium-test-api", default_team_max_size=3)


@pytest.fixture
def app() -> AsgiFastStream:
    deps = Deps(bus=create_bus(NAME, SETTINGS), pool=Untouchable("pool"), key=KEY,  # type: ignore[arg-type]
                versions=Untouchable("versions"), revoked_families=Untouchable("revoked_families"))  # type: ignore[arg-type]
    return create_app(SETTINGS, deps)


def nats_broker(app: AsgiFastStream) -> NatsBroker:
    """The app's broker: FastStream types it as any broker (or none); the service's app is built on NATS."""
    assert isinstance(app.broker, NatsBroker), f"the app's broker is {app.broker!r}"
    return app.broker


async def ask(app: AsgiFastStream, operation: Operation, body: bytes) -> bytes:
    async with TestNatsBroker(nats_broker(app)) as broker:
        # In memory, but on a busy machine the first request may take longer than FastStream's default 0.5 s.
        reply = await broker.request(body, operation.subject, timeout=30)
    return reply.body


async def refusal(app: AsgiFastStream, operation: Operation, request: msgspec.Struct) -> ServiceError:
    return msgspec.json.decode(await ask(app, operation, msgspec.json.encode(request)), type=ServiceError)


ADMIN_ONLY = "Admin privileges required"
REFUSALS = [
    (ops.CREATE_TEAM, Call(request=ops.NewTeam(name="team-8", password="long enough password"), actor=TEAM),
     403, ADMIN_ONLY),
    (ops.DELETE_TEAM, Call(request=ops.DeleteTeam(team_id=7), actor=TEAM), 403, ADMIN_ONLY),
    (ops.IMPORT_TEAMS, Call(request=ops.ImportTeamsCsv(csv=b"name,password\n"), actor=TEAM), 403, ADMIN_ONLY),
    (ops.STATS, Call(request=ops.StatsRequest(), actor=TEAM), 403, ADMIN_ONLY),
    (ops.DELETE_ANSWER, Call(request=ops.DeleteAnswer(answer_id=1), actor=TEAM), 403, ADMIN_ONLY),
    (ops.POST_QUESTION, Call(request=ops.PostQuestion(title="News", content="text", announcement=True), actor=TEAM),
     403, ADMIN_ONLY),
    (ops.UPDATE_TEAM, Call(request=ops.UpdateTeam(team_id=7, max_size=50), actor=TEAM),
     403, "only an admin may change a team's size limit or disable it"),
    (ops.UPDATE_TEAM, Call(request=ops.UpdateTeam(team_id=7, disabled=False), actor=TEAM),
     403, "only an admin may change a team's size limit or disable it"),
    (ops.UPDATE_TEAM, Call(request=ops.UpdateTeam(team_id=7, name="   "), actor=TEAM), 422, "team name is empty"),
    (ops.UPDATE_TEAM, Call(request=ops.UpdateTeam(team_id=7, password="short"), actor=ADMIN),
     422, f"password is shorter than {MIN_PASSWORD_LENGTH} characters"),
    (ops.POST_QUESTION, Call(request=ops.PostQuestion(title=" ", content="text"), actor=TEAM), 422, "title is empty"),
    (ops.POST_QUESTION, Call(request=ops.PostQuestion(title="Why?", content="x" * 10_001), actor=TEAM),
     422, "content is longer than 10000 characters"),
    (ops.IMPORT_TEAMS, Call(request=ops.ImportTeamsCsv(csv=b"team,secret\na,b\n"), actor=ADMIN),
     400, "the header row must name the columns name, password (found: ['team', 'secret'])"),
]


@pytest.mark.parametrize(("operation", "request_", "status", "detail"), REFUSALS,
                         ids=[f"{op.name}-{status}-{i}" for i, (op, _, status, _) in enumerate(REFUSALS)])
async def test_a_refusal_answers_before_the_database_is_asked(app: AsgiFastStream, operation: Operation,
                                                              request_: msgspec.Struct, status: int,
                                                              detail: str) -> None:
    error = await refusal(app, operation, request_)
    assert (error.status, error.detail) == (status, detail)


async def test_a_new_team_hears_every_broken_rule_at_once(app: AsgiFastStream) -> None:
    """A name that breaks a rule is never looked up, so the database is not asked; the password's problem is
    reported beside it, each under its field."""
    error = await refusal(app, ops.CREATE_TEAM, Call(request=ops.NewTeam(name="", password="short"), actor=ADMIN))
    assert error.status == 422
    assert error.extra["errors"] == [
        {"key": "name", "message": "team name is empty"},
        {"key": "password", "message": f"password is shorter than {MIN_PASSWORD_LENGTH} characters"},
    ]


async def test_the_jwks_is_the_public_half_of_the_deps_key(app: AsgiFastStream) -> None:
    jwks = msgspec.json.decode(await ask(app, ops.JWKS, msgspec.json.encode(Call(request=ops.JwksRequest()))),
                               type=ops.Jwks)
    assert jwks == ops.Jwks(keys=[KEY.public_jwk()], issuer="podium-test", audience="podium-test-api")
    assert "d" not in jwks.keys[0]  # the private scalar of an OKP key never leaves the service


async def test_the_account_rules_are_the_ones_enforced(app: AsgiFastStream) -> None:
    rules = msgspec.json.decode(await ask(app, ops.RULES, msgspec.json.encode(Call(request=ops.RulesRequest()))),
                                type=ops.AccountRules)
    assert rules == ops.AccountRules(password_min_length=MIN_PASSWORD_LENGTH, password_max_length=MAX_PASSWORD_LENGTH,
                                     name_max_length=MAX_NAME_LENGTH, team_max_size=MAX_TEAM_SIZE,
                                     default_team_max_size=3)


@pytest.mark.parametrize("body", [b'{"request": {}}', b'{"request": {}, "actor": null}'])
async def test_a_request_on_behalf_of_no_one_answers_400(app: AsgiFastStream, body: bytes) -> None:
    error = msgspec.json.decode(await ask(app, ops.ME, body), type=ServiceError)
    assert (error.status, error.detail) == (
        400, "malformed me request: it is asked on behalf of a caller and names none (`actor`)")


async def test_a_request_outside_its_call_envelope_answers_400(app: AsgiFastStream) -> None:
    body = msgspec.json.encode(ops.LoginRequest(name="team-7", password="long enough password"))
    error = msgspec.json.decode(await ask(app, ops.LOGIN, body), type=ServiceError)
    assert (error.status, error.detail) == (400, "malformed login request: Object missing required field `request`")


async def test_a_malformed_request_answers_400_with_what_is_wrong(app: AsgiFastStream) -> None:
    error = msgspec.json.decode(await ask(app, ops.LOGIN, b'{"request": {"name": "team-7"}}'), type=ServiceError)
    assert (error.status, error.detail) == (
        400, "malformed login request: Object missing required field `password` - at `$.request`")
