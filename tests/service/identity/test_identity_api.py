"""Identity through the public API, against the real auth_service process, NATS and PostgreSQL: the
MLS-GOAT login flow and routes with their payloads, token attacks, BOLA/BFLA, CSV import, revocation,
refresh, Q&A visibility, the team events, and clear refusals of bad input."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import asyncpg
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from litestar.testing import AsyncTestClient
from nats.aio.client import Client as NatsClient

from auth_service.tokens import SigningKey
from gateway.api_docs import ASSETS_PATH as DOCS_ASSETS
from podium_runtime.settings import ServiceSettings
from proto import decode
from proto.events import QuestionChanged, TeamCreated, TeamDeleted, TeamUpdated
from tests.api import bearer, login, new_team
from tests.conftest import ADMIN, gateway_settings, running_gateway

JSON = "application/json"


# --- the login flow, MLS-GOAT's payloads ------------------------------------------------------------


async def test_goat_login_and_me(gateway: AsyncTestClient, admin_token: str) -> None:
    team_id, name, password = await new_team(gateway, admin_token)
    response = await gateway.post("/auth/login", json={"name": name, "password": password})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["access_token"].count(".") == 2
    me = await gateway.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert {k: me.json()[k] for k in ("id", "name", "is_admin")} == {"id": team_id, "name": name, "is_admin": False}
    admin_me = await gateway.get("/auth/me", headers=bearer(admin_token))
    assert admin_me.json()["is_admin"] is True


@pytest.mark.parametrize("name_kind", ["wrong-password", "unknown-name"])
async def test_bad_login_is_a_401_with_the_goat_detail(
    gateway: AsyncTestClient, admin_token: str, name_kind: str
) -> None:
    _, name, _ = await new_team(gateway, admin_token)
    who = name if name_kind == "wrong-password" else f"nobody-{uuid.uuid4().hex}"
    response = await gateway.post("/auth/login", json={"name": who, "password": "not-the-password"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"] == "Incorrect team name or password"


@pytest.mark.parametrize(
    "body", [b"{}", b'{"name": "x"}', b"not json", b'{"name": 5, "password": []}', b"[]"],
)
async def test_malformed_login_bodies_get_a_400_with_a_reason(gateway: AsyncTestClient, body: bytes) -> None:
    response = await gateway.post("/auth/login", content=body, headers={"content-type": JSON})
    assert response.status_code == 400
    assert response.json()["detail"]


async def test_login_name_is_case_insensitive_and_trimmed(gateway: AsyncTestClient, admin_token: str) -> None:
    _, name, password = await new_team(gateway, admin_token)
    await login(gateway, f"  {name.upper()} ", password)


# --- token attacks ----------------------------------------------------------------------------------


async def signing_key(pg_pool: asyncpg.Pool) -> SigningKey:
    return SigningKey.from_pem(await pg_pool.fetchval("SELECT private_pem FROM auth.signing_keys LIMIT 1"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def good_claims(account_id: str, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {"iss": "podium", "aud": "podium-api", "sub": account_id, "role": "admin",
                                 "ver": 1, "iat": now, "exp": now + 300, "name": "x"}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


async def test_token_attacks_get_401(gateway: AsyncTestClient, admin_token: str, pg_pool: asyncpg.Pool) -> None:
    team_id, name, password = await new_team(gateway, admin_token)
    key = await signing_key(pg_pool)
    account = str(team_id)
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = good_claims(account, role="admin")  # each forgery also claims the admin role
    header_none = {"alg": "none", "typ": "JWT", "kid": key.kid}
    unsigned = f"{_b64(json.dumps(header_none).encode())}.{_b64(json.dumps(claims).encode())}."
    hs_header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    hs_body = _b64(json.dumps(claims).encode())
    hs_signature = _b64(hmac.new(public_pem, f"{hs_header}.{hs_body}".encode(), hashlib.sha256).digest())
    other_key = SigningKey.generate()

    def signed(**overrides: object) -> str:
        return jwt.encode(good_claims(account, **overrides), key.private_key, algorithm="EdDSA",
                          headers={"kid": key.kid})

    forgeries = {
        "alg none": unsigned,
        "HS256 keyed with the public key": f"{hs_header}.{hs_body}.{hs_signature}",
        "expired": signed(iat=int(time.time()) - 600, exp=int(time.time()) - 60),
        "another audience": signed(aud="some-other-api"),
        "another issuer": signed(iss="evil"),
        "no exp": signed(exp=None),
        "another key, same kid": jwt.encode(claims, other_key.private_key, algorithm="EdDSA",
                                            headers={"kid": key.kid}),
        "stale token version": signed(ver=0),
    }
    for attack, token in forgeries.items():
        response = await gateway.get("/admin/stats", headers=bearer(token))
        assert response.status_code == 401, f"{attack}: {response.status_code} {response.text}"
        assert response.headers.get("www-authenticate") == "Bearer", attack
    # The genuine article, for contrast: a correctly signed token with the team's real version and role.
    genuine = await login(gateway, name, password)
    assert (await gateway.get("/auth/me", headers=bearer(genuine))).status_code == 200


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer not.a.jwt", "Token abc"])
async def test_malformed_authorization_headers_get_401(gateway: AsyncTestClient, header: str) -> None:
    response = await gateway.get("/auth/me", headers={"Authorization": header})
    assert response.status_code == 401


async def test_no_token_is_401_on_protected_routes(gateway: AsyncTestClient) -> None:
    for path in ("/auth/me", "/teams/", "/qa/questions", "/admin/stats", "/api/v1/teams/1"):
        assert (await gateway.get(path)).status_code == 401, path


# --- BOLA and BFLA -----------------------------------------------------------------------------------


async def test_team_b_gets_404_on_team_a(gateway: AsyncTestClient, admin_token: str) -> None:
    a_id, a_name, a_password = await new_team(gateway, admin_token)
    _, b_name, b_password = await new_team(gateway, admin_token)
    token_a, token_b = await login(gateway, a_name, a_password), await login(gateway, b_name, b_password)
    question = await gateway.post("/qa/questions", json={"title": "secret", "content": "A's plan"},
                                  headers=bearer(token_a))
    question_id = question.json()["id"]

    assert (await gateway.get(f"/teams/{a_id}", headers=bearer(token_a))).status_code == 200
    for method, path, body in [
        ("GET", f"/teams/{a_id}", None),
        ("PUT", f"/teams/{a_id}", {"name": "hijacked"}),
        ("PUT", f"/teams/{a_id}", {"password": "hijacked-password"}),
        ("GET", f"/api/v1/teams/{a_id}", None),
        ("GET", f"/qa/questions/{question_id}", None),
        ("PUT", f"/qa/questions/{question_id}", {"content": "edited by B"}),
        ("GET", "/teams/999999999", None),
    ]:
        response = await gateway.request(method, path, json=body, headers=bearer(token_b))
        assert response.status_code == 404, f"{method} {path}: {response.status_code}"
    listed = await gateway.get("/teams/", headers=bearer(token_b))
    assert [t["name"] for t in listed.json()] == [b_name]
    questions = await gateway.get("/qa/questions", headers=bearer(token_b))
    assert question_id not in [q["id"] for q in questions.json()]
    # A's team is untouched.
    assert (await gateway.get(f"/teams/{a_id}", headers=bearer(token_a))).json()["name"] == a_name


async def test_team_tokens_get_403_on_admin_functions(gateway: AsyncTestClient, admin_token: str) -> None:
    team_id, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    for method, path, kwargs in [
        ("GET", "/admin/teams", {}),
        ("POST", "/admin/teams", {"json": {"name": "x", "password": "long-enough-pw"}}),
        ("POST", "/admin/teams", {"content": b"name,password\nx,long-enough-pw\n",
                                  "headers": {"content-type": "text/csv"}}),
        ("POST", "/admin/teams/batch", {"files": {"file": ("t.csv", b"name,password\n")}}),
        ("DELETE", f"/admin/teams/{team_id}", {}),
        ("GET", "/admin/stats", {}),
        ("GET", "/api/v1/admin/stats", {}),
        ("POST", "/teams/", {"json": {"name": "x", "password": "long-enough-pw"}}),
        ("POST", "/api/v1/qa/announcements", {"json": {"title": "t", "content": "c"}}),
        ("PUT", f"/teams/{team_id}", {"json": {"max_size": 50}}),
        ("PUT", f"/teams/{team_id}", {"json": {"disabled": False}}),
    ]:
        headers = {**bearer(token), **kwargs.pop("headers", {})}
        response = await gateway.request(method, path, headers=headers, **kwargs)
        assert response.status_code == 403, f"{method} {path}: {response.status_code} {response.text}"
    assert (await gateway.get(f"/teams/{team_id}", headers=bearer(token))).json()["max_size"] == 5


# --- team management ---------------------------------------------------------------------------------


async def test_team_edits_its_members_within_its_size(gateway: AsyncTestClient, admin_token: str) -> None:
    team_id, name, password = await new_team(gateway, admin_token, max_size=2)
    token = await login(gateway, name, password)
    members = [{"name": "Ada", "email": "ada@example.org"}, {"name": "Alan", "email": ""}]
    response = await gateway.put(f"/teams/{team_id}", json={"members": members}, headers=bearer(token))
    assert response.status_code == 200 and response.json()["members"] == members
    too_many = await gateway.put(f"/teams/{team_id}", json={"members": [*members, {"name": "Grace"}]},
                                 headers=bearer(token))
    assert too_many.status_code == 422 and "at most 2" in too_many.json()["detail"]
    bad_email = await gateway.put(f"/teams/{team_id}", json={"members": [{"name": "E", "email": "nope"}]},
                                  headers=bearer(token))
    assert bad_email.status_code == 422 and "email" in bad_email.json()["detail"]
    raised = await gateway.put(f"/teams/{team_id}", json={"max_size": 3}, headers=bearer(admin_token))
    assert raised.json()["max_size"] == 3


async def test_duplicate_and_invalid_teams_are_refused(gateway: AsyncTestClient, admin_token: str) -> None:
    _, name, _ = await new_team(gateway, admin_token)
    for body, status, words in [
        ({"name": name.upper(), "password": "long-enough-pw"}, 409, "already exists"),
        ({"name": "", "password": "long-enough-pw"}, 422, "empty"),
        ({"name": "ok-name", "password": "short"}, 422, "shorter"),
        ({"name": "x" * 65, "password": "long-enough-pw"}, 422, "longer"),
        ({"name": "tab\tname", "password": "long-enough-pw"}, 422, "control"),
    ]:
        response = await gateway.post("/admin/teams", json=body, headers=bearer(admin_token))
        assert response.status_code == status, (body, response.text)
        assert words in response.json()["detail"]


async def test_a_taken_name_is_reported_first_and_every_problem_by_its_field(
    gateway: AsyncTestClient, admin_token: str
) -> None:
    """A duplicate name with a short password was answered "password is shorter than 8 characters" alone: the host
    fixed the password and only then heard that the name was taken. Now the name is judged first and each problem
    comes under its field; the CSV import reports the taken name of a row refused for its password too."""
    _, name, _ = await new_team(gateway, admin_token)
    response = await gateway.post("/admin/teams", json={"name": name, "password": "short"}, headers=bearer(admin_token))
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["detail"] == f"an account named {name!r} already exists; password is shorter than 8 characters"
    assert [e["key"] for e in body["errors"]] == ["name", "password"]
    imported = await gateway.post("/admin/teams", content=f"name,password\n{name},short\n",
                                  headers={**bearer(admin_token), "content-type": "text/csv"})
    row = imported.json()["rows"][0]
    assert row["status"] == "refused" and row["reason"].startswith(f"an account named {name!r} already exists; ")
    assert row["reason"].endswith("password is shorter than 8 characters")


async def test_the_rules_a_form_shows_come_from_the_service_anonymously(gateway: AsyncTestClient) -> None:
    response = await gateway.get("/api/v1/auth/rules")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["password_min_length"] == 8 and answer["password_max_length"] == 256
    assert answer["name_max_length"] == 64 and answer["team_max_size"] == 100 and answer["default_team_max_size"] >= 1
    short = "x" * (answer["password_min_length"] - 1)
    refused = await gateway.post("/admin/teams", json={"name": f"t-{uuid.uuid4().hex[:8]}", "password": short},
                                 headers=bearer(await login(gateway, *ADMIN)))
    assert refused.status_code == 422 and str(answer["password_min_length"]) in refused.json()["detail"]


async def test_admin_cannot_be_deleted_and_missing_team_is_404(gateway: AsyncTestClient, admin_token: str) -> None:
    me = (await gateway.get("/auth/me", headers=bearer(admin_token))).json()
    assert (await gateway.delete(f"/admin/teams/{me['id']}", headers=bearer(admin_token))).status_code == 403
    assert (await gateway.delete("/admin/teams/987654321", headers=bearer(admin_token))).status_code == 404


# --- CSV import --------------------------------------------------------------------------------------


async def test_csv_import_reports_every_row(gateway: AsyncTestClient, admin_token: str) -> None:
    _, existing, _ = await new_team(gateway, admin_token)
    tag = uuid.uuid4().hex[:6]
    csv = (
        "name,password,max_size,members\n"
        f"good-{tag},a-good-password,3,Ada <ada@example.org>; Alan\n"
        f"nopass-{tag},,,\n"
        f"{existing},another-password,,\n"
        f"GOOD-{tag},dup-in-file-pw,,\n"
    ).encode()
    csv += f"bad-\xff\xfe-{tag},latin-bytes-pw,,\n".encode("latin-1")  # not UTF-8
    csv += f"second-{tag},second-password,,\n".encode()
    response = await gateway.post("/admin/teams/batch", files={"file": ("teams.csv", csv, "text/csv")},
                                  headers=bearer(admin_token))
    assert response.status_code == 200, response.text
    report = response.json()
    outcome = {row["line"]: (row["status"], row["reason"]) for row in report["rows"]}
    assert outcome[2] == ("created", "")
    assert outcome[3] == ("refused", "password is empty")
    assert outcome[4][0] == "refused" and "already exists" in outcome[4][1]
    assert outcome[5] == ("refused", "duplicate of line 2")
    assert outcome[6] == ("refused", "not valid UTF-8")
    assert outcome[7] == ("created", "")
    assert (report["created"], report["refused"]) == (2, 4)
    assert report["teams"] == [f"good-{tag}", f"second-{tag}"]
    assert len(report["errors"]) == 4
    # The created teams can log in, with what the CSV said.
    token = await login(gateway, f"good-{tag}", "a-good-password")
    me = (await gateway.get("/auth/me", headers=bearer(token))).json()
    assert me["max_size"] == 3 and [m["name"] for m in me["members"]] == ["Ada", "Alan"]


async def test_csv_import_via_post_admin_teams_text_csv(gateway: AsyncTestClient, admin_token: str) -> None:
    tag = uuid.uuid4().hex[:6]
    response = await gateway.post(
        "/admin/teams", content=f"name,password\ncsv-{tag},csv-password-1\n".encode(),
        headers={**bearer(admin_token), "content-type": "text/csv"},
    )
    assert response.status_code == 200 and response.json()["created"] == 1


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"team,secret\nx,y\n", 400, "header row"),
        (b"", 400, "header row"),
        (b"name,password\n" + b"a,b\n" * 300_000, 413, "larger"),
    ],
)
async def test_unusable_csv_files_are_refused_whole(
    gateway: AsyncTestClient, admin_token: str, body: bytes, status: int, words: str
) -> None:
    response = await gateway.post("/admin/teams/batch", files={"file": ("t.csv", body)}, headers=bearer(admin_token))
    assert response.status_code == status and words in response.json()["detail"]


async def test_wrong_content_type_on_admin_teams_is_415(gateway: AsyncTestClient, admin_token: str) -> None:
    response = await gateway.post("/admin/teams", content=b"<xml/>",
                                  headers={**bearer(admin_token), "content-type": "application/xml"})
    assert response.status_code == 415


# --- revocation and refresh --------------------------------------------------------------------------


async def test_password_change_revokes_tokens_at_once(gateway: AsyncTestClient, admin_token: str) -> None:
    team_id, name, password = await new_team(gateway, admin_token)
    old = await login(gateway, name, password)
    old_refresh = (await gateway.post("/auth/login", json={"name": name, "password": password})).json()
    changed = await gateway.put(f"/teams/{team_id}", json={"password": "a-brand-new-password"}, headers=bearer(old))
    assert changed.status_code == 200
    assert (await gateway.get("/auth/me", headers=bearer(old))).status_code == 401
    assert (await gateway.post("/api/v1/auth/refresh",
                               json={"refresh_token": old_refresh["refresh_token"]})).status_code == 401
    assert (await gateway.post("/auth/login", json={"name": name, "password": password})).status_code == 401
    new = await login(gateway, name, "a-brand-new-password")
    assert (await gateway.get("/auth/me", headers=bearer(new))).status_code == 200


async def test_disable_and_delete_revoke(gateway: AsyncTestClient, admin_token: str) -> None:
    team_id, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    assert (await gateway.put(f"/teams/{team_id}", json={"disabled": True},
                              headers=bearer(admin_token))).status_code == 200
    assert (await gateway.get("/auth/me", headers=bearer(token))).status_code == 401
    assert (await gateway.post("/auth/login", json={"name": name, "password": password})).status_code == 401
    await gateway.put(f"/teams/{team_id}", json={"disabled": False}, headers=bearer(admin_token))
    token = await login(gateway, name, password)
    deleted = await gateway.delete(f"/admin/teams/{team_id}", headers=bearer(admin_token))
    assert deleted.status_code == 200 and name in deleted.json()["message"]
    assert (await gateway.get("/auth/me", headers=bearer(token))).status_code == 401
    assert (await gateway.get(f"/teams/{team_id}", headers=bearer(admin_token))).status_code == 404


async def test_refresh_rotates_and_is_single_use(gateway: AsyncTestClient, admin_token: str) -> None:
    _, name, password = await new_team(gateway, admin_token)
    first = (await gateway.post("/api/v1/auth/login", json={"name": name, "password": password})).json()
    second = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert (await gateway.get("/auth/me", headers=bearer(second.json()["access_token"]))).status_code == 200
    replay = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401 and "log in again" in replay.json()["detail"]


async def test_revocation_reaches_a_second_gateway_through_kv(
    gateway: AsyncTestClient, admin_token: str, settings: ServiceSettings
) -> None:
    team_id, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    async with running_gateway(gateway_settings(settings)) as other:
        assert (await other.get("/auth/me", headers=bearer(token))).status_code == 200
        await gateway.put(f"/teams/{team_id}", json={"password": "changed-elsewhere"}, headers=bearer(token))
        deadline = time.monotonic() + 5
        while (await other.get("/auth/me", headers=bearer(token))).status_code != 401:
            assert time.monotonic() < deadline, "the other gateway still honours the revoked token"


# --- Q&A ---------------------------------------------------------------------------------------------


async def test_question_lifecycle(gateway: AsyncTestClient, admin_token: str) -> None:
    _, a_name, a_password = await new_team(gateway, admin_token)
    _, b_name, b_password = await new_team(gateway, admin_token)
    token_a, token_b = await login(gateway, a_name, a_password), await login(gateway, b_name, b_password)

    asked = await gateway.post("/qa/questions", json={"title": "Data range?", "content": "Is it 0..1?"},
                               headers=bearer(token_a))
    assert asked.status_code == 200
    question = asked.json()
    assert (question["author_name"], question["is_answered"], question["answer_count"]) == (a_name, False, 0)
    qid = question["id"]
    edited = await gateway.put(f"/qa/questions/{qid}", json={"content": "Is the range 0..1?"}, headers=bearer(token_a))
    assert edited.json()["content"] == "Is the range 0..1?"

    def ids(response) -> list[int]:  # noqa: ANN001
        return [q["id"] for q in response.json()]

    assert qid not in ids(await gateway.get("/qa/questions", headers=bearer(token_b)))
    answered = await gateway.put(f"/qa/questions/{qid}", json={"answer": "Yes, 0..1."}, headers=bearer(admin_token))
    body = answered.json()
    assert (body["is_answered"], body["answer"], body["answered_by"], body["answer_count"]) == (
        True, "Yes, 0..1.", ADMIN[0], 1)
    assert body["latest_answers"][0]["content"] == "Yes, 0..1."
    assert qid in ids(await gateway.get("/qa/questions", headers=bearer(token_b)))
    locked = await gateway.put(f"/qa/questions/{qid}", json={"content": "changed my mind"}, headers=bearer(token_a))
    assert locked.status_code == 409
    assert (await gateway.put(f"/qa/questions/{qid}", json={"answer": "no"},
                              headers=bearer(token_a))).status_code == 403
    hidden = await gateway.put(f"/qa/questions/{qid}", json={"hidden": True}, headers=bearer(admin_token))
    assert hidden.json()["hidden"] is True
    assert qid not in ids(await gateway.get("/qa/questions", headers=bearer(token_b)))
    assert qid in ids(await gateway.get("/qa/questions", headers=bearer(admin_token)))

    announced = await gateway.post("/api/v1/qa/announcements", json={"title": "Deadline", "content": "Friday"},
                                   headers=bearer(admin_token))
    assert announced.json()["is_announcement"] is True
    assert announced.json()["id"] in ids(await gateway.get("/qa/questions", headers=bearer(token_b)))
    empty = await gateway.post("/qa/questions", json={"title": " ", "content": "x"}, headers=bearer(token_a))
    assert empty.status_code == 422 and "title" in empty.json()["detail"]


# --- events ------------------------------------------------------------------------------------------


async def test_every_team_change_is_an_event(gateway: AsyncTestClient, admin_token: str, nc: NatsClient) -> None:
    team_id, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    await gateway.put(f"/teams/{team_id}", json={"name": f"{name}-renamed"}, headers=bearer(token))
    asked = await gateway.post("/qa/questions", json={"title": "t", "content": "c"}, headers=bearer(token))
    await gateway.delete(f"/admin/teams/{team_id}", headers=bearer(admin_token))

    js = nc.jetstream()
    subscription = await js.subscribe("team.>", ordered_consumer=True)
    team_events = []
    deadline = time.monotonic() + 10
    while len(team_events) < 3 and time.monotonic() < deadline:
        try:
            message = await subscription.next_msg(timeout=1)
        except TimeoutError:
            continue
        event = decode(message.data)
        if getattr(event, "team_id", None) == str(team_id):
            team_events.append(event)
            assert (message.headers or {}).get("Nats-Msg-Id") == event.msg_id()
    assert [type(e) for e in team_events] == [TeamCreated, TeamUpdated, TeamDeleted]
    assert team_events[1].name == f"{name}-renamed"
    assert [e.revision for e in team_events] == [1, 2, 3]

    qa = await js.subscribe("qa.>", ordered_consumer=True)
    found = []
    while not found:
        event = decode((await qa.next_msg(timeout=5)).data)
        if isinstance(event, QuestionChanged) and event.question_id == asked.json()["id"]:
            found.append(event)
    assert found[0].change == "posted" and found[0].visible_to_all is False


# --- rate limits -------------------------------------------------------------------------------------


async def test_rate_limit_is_shared_by_gateways_and_says_when_to_retry(
    gateway: AsyncTestClient, admin_token: str, settings: ServiceSettings
) -> None:
    _, name, password = await new_team(gateway, admin_token)
    _, other_name, other_password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    other_token = await login(gateway, other_name, other_password)
    limited = gateway_settings(settings, rate_limit_per_minute=4)
    async with running_gateway(limited) as first, running_gateway(limited) as second:
        statuses = []
        for client in (first, second, first, second, first):
            statuses.append((await client.get("/auth/me", headers=bearer(token))).status_code)
        assert statuses == [200, 200, 200, 200, 429]
        refused = await second.get("/auth/me", headers=bearer(token))
        assert refused.status_code == 429
        assert 0 < int(refused.headers["retry-after"]) <= 60
        assert refused.json()["status"] == 429
        # Keyed by team: another team, and health checks, are not affected.
        assert (await first.get("/auth/me", headers=bearer(other_token))).status_code == 200
        assert (await first.get("/health")).status_code == 200


async def test_the_web_page_and_its_files_load_for_a_caller_the_api_refuses(
    settings: ServiceSettings, gateway: AsyncTestClient
) -> None:
    """A browser loads a dozen static files per visit: a classroom behind one address must not spend its API allowance
    on them, nor get a blank page whose modules were refused 429. The API itself stays limited."""
    async with running_gateway(gateway_settings(settings, rate_limit_per_minute=4)) as limited:
        statuses = [(await limited.get("/api/v1/auth/rules")).status_code for _ in range(5)]
        assert statuses[-1] == 429, statuses  # this address's allowance is spent (other tests' calls count too)
        page = await limited.get("/")
        assert page.status_code == 200 and "<title>Podium</title>" in page.text
        for name in ("app.js", "api.js", "style.css"):
            assert (await limited.get(f"/app/{name}")).status_code == 200, name
        assert (await limited.get("/app/no-such-file.js")).status_code == 404  # a name outside the page: still refused
        assert (await limited.get(f"{DOCS_ASSETS}/swagger-ui.css")).status_code == 200  # the API documentation's
        assert (await limited.get("/api/v1/auth/rules")).status_code == 429


# --- health ------------------------------------------------------------------------------------------


async def test_gateway_readiness_reports_identity(gateway: AsyncTestClient) -> None:
    response = await gateway.get("/readiness")
    assert response.status_code == 200
    assert response.json()["checks"] == {"nats": "ok", "identity": "ok"}
    assert (await gateway.get("/liveness")).status_code == 200
