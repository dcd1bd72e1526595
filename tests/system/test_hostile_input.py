"""Hostile input through the public API of the running platform — the gateway as its own uvicorn process over real
sockets, auth_service, submission_service, cpu_scorer, gpu_scorer and leaderboard_service as processes, real NATS,
PostgreSQL and S3: oversized and deeply nested JSON, bad UTF-8, header floods, slowloris and slow uploads, a
10,000-entry ZIP and every hostile archive and model the scorers refuse, path traversal and NATS-subject injection
in every string that becomes a key or a subject, ids beyond 64 bits, wrong content types, missing and forged tokens.

Each case of the corpus says how it is sent and what it must end as: a 4xx with its exact status and the words of
its `detail` a participant can act on, or a `failed` submission with a readable `reason` (or, for the few inputs
that are legitimate text, accepted as text and never used as a key). After the corpus: every service is still
ready, a good submission of each kind still scores, no answer was a 5xx, no pickle ran code, and no service logged
an error."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
import websockets
from litestar.testing import AsyncTestClient

from deploy.demo import make_ground_truth, npy_zip
from proto.competition import Competition, parse_competition
from tests.api import bearer, live_socket, team_token
from tests.conftest import TEST_COMPETITION, ScoringServices, task_of
from tests.onnx_models import linear_model, to_bytes, with_external_data
from tests.service.submissions.test_submit_and_score import hostile_archives
from tests.system.corpus import Holds, Outcome, Refused, errors_logged_since, outcome_of
from tests.system.corpus import log_marks as marks_of
from tests.system.hostile import FORGED, crafted_archives, forged_token, multipart, raw_exchange, status_of

pytestmark = pytest.mark.system

LAB = task_of(parse_competition(TEST_COMPETITION), "lab")  # cpu, quota 100, 2 MB uploads, 12 samples of 3×16×16
TRUTH = make_ground_truth(LAB)
CODE_RAN = Path(tempfile.gettempdir()) / f"podium-hostile-code-ran-{uuid.uuid4().hex}"  # touched by a pickle that runs
SERVICES = ("gateway", "auth_service", "submission_service", "cpu_scorer", "gpu_scorer", "leaderboard_service")
BIG = 2**63  # one past PostgreSQL's bigint
HUGE = 10**20
MIB = 1 << 20
# Every answer the corpus got, as (case, HTTP status): none may be a 5xx.
ANSWERS: list[tuple[str, int]] = []


# --- how a case is sent, and what it must end as -------------------------------------------------------------------


@dataclass
class World:
    url: str
    http: httpx.AsyncClient
    team: str
    team_id: int
    admin: str
    kid: str
    case: str = ""

    def headers(self, who: str) -> dict[str, str]:
        """`who`: team, admin, nobody, forged:<kind of FORGED>, or a literal Authorization header."""
        if who.startswith("forged:"):
            return bearer(forged_token(who.removeprefix("forged:"), self.kid, self.team_id, self.team))
        return {"team": bearer(self.team), "admin": bearer(self.admin), "nobody": {}}.get(who, {"Authorization": who})


Send = Callable[[World], Awaitable[Outcome]]


@dataclass(frozen=True)
class Fails:
    """Accepted, then `failed` with these words in its reason; the file name shown as `filename` when given."""

    words: str
    filename: str | None = None

    def check(self, outcome: Outcome) -> None:
        assert outcome.status == 200, outcome
        body = outcome.body
        assert (body["status"], body["public_score"], body["private_score"]) == ("failed", None, None), outcome
        assert self.words in body["reason"] and "Traceback" not in body["reason"], outcome
        assert self.filename is None or body["filename"] == self.filename, outcome


@dataclass(frozen=True)
class Case:
    id: str
    send: Send
    expect: Refused | Fails | Holds


def http(method: str, path: str, who: str = "team", **options: Any) -> Send:
    async def send(world: World) -> Outcome:
        headers = {**world.headers(who), **options.get("headers", {})}
        return outcome_of(await world.http.request(method, path, **{**options, "headers": headers}))

    return send


def upload(data: bytes, *, task: str = "lab", filename: str = "submission.zip", who: str = "team") -> Send:
    """A direct multipart upload that waits for the outcome."""
    return http("POST", f"/api/v1/tasks/{task}/submissions?wait=30", who,
                files={"file": (filename, data, "application/octet-stream")})


def raw(payload: bytes, **options: Any) -> Send:
    async def send(world: World) -> Outcome:
        answer = await raw_exchange(world.url, payload, **options)
        ANSWERS.append((world.case, status_of(answer)))
        return Outcome(status_of(answer), answer.decode("latin-1"), answer)

    return send


def on_socket(*frames: str | bytes, who: str = "team") -> Send:
    """Frames sent on /ws; the outcome is the first message's detail and every message that came within 0.5 s
    (1000: the socket stays open), or the close code and reason."""

    async def send(world: World) -> Outcome:
        token = world.headers(who).get("Authorization", "").removeprefix("Bearer ")
        try:
            async with live_socket(world.url, token, max_size=None) as ws:
                for frame in frames:
                    await ws.send(frame)
                first = json.loads(await asyncio.wait_for(ws.recv(), 10))
                return Outcome(1000, first.get("detail", ""), [first, *await _more_messages(ws)])
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else 1006
            ANSWERS.append((world.case, 500 if code == 1011 else 400))  # 1011: the server's internal error
            return Outcome(code, closed.rcvd.reason if closed.rcvd else "")

    return send


async def token_in_url(world: World) -> Outcome:
    """The token where access logs and proxies would keep it: refused, whatever the token."""
    try:
        async with websockets.connect(f"{world.url.replace('http://', 'ws://')}/ws?token={world.team}") as ws:
            await asyncio.wait_for(ws.recv(), 10)
    except websockets.ConnectionClosed as closed:
        return Outcome(closed.rcvd.code if closed.rcvd else 1006, closed.rcvd.reason if closed.rcvd else "")
    return Outcome(1000, "the socket stayed open")


async def _more_messages(ws: Any, quiet_s: float = 0.5) -> list[dict]:
    more = []
    try:
        while True:
            more.append(json.loads(await asyncio.wait_for(ws.recv(), quiet_s)))
    except TimeoutError:
        return more


# --- the cases that need more than one request ------------------------------------------------------------------


async def _measure_while(world: World, running: asyncio.Future) -> list[float]:
    """Seconds each `/liveness` took, on fresh connections, until `running` is done."""
    latencies = []
    async with httpx.AsyncClient(base_url=world.url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0)
                                 ) as fresh:
        while not running.done():
            started = time.perf_counter()
            response = await fresh.get("/liveness")
            latencies.append(time.perf_counter() - started)
            ANSWERS.append((world.case, response.status_code))
            await asyncio.sleep(0.05)
    return latencies


async def slowloris(world: World) -> Outcome:
    """20 connections drip a header a byte at a time (10 bytes a second each) for 3 s while others are measured;
    then the slow requests are completed and must be answered like any other."""
    parts = urlsplit(world.url)
    slow = [await asyncio.open_connection(parts.hostname, parts.port) for _ in range(20)]
    for _, writer in slow:
        writer.write(b"GET /liveness HTTP/1.1\r\nHost: podium\r\nX-Slow: ")

    async def drip() -> None:
        for _ in range(30):
            for _, writer in slow:
                writer.write(b"a")
            await asyncio.sleep(0.1)

    dripping = asyncio.ensure_future(drip())
    latencies = await _measure_while(world, dripping)
    for _, writer in slow:
        writer.write(b"\r\nConnection: close\r\n\r\n")
    answers = [status_of(await asyncio.wait_for(reader.read(4096), 10)) for reader, _ in slow]
    for _, writer in slow:
        writer.close()
    return Outcome(200, "", {"max_latency_s": max(latencies), "measured": len(latencies), "slow_answers": answers})


async def slow_upload(world: World) -> Outcome:
    """A good archive sent in 40 pieces over 4 s (chunked, no Content-Length) while others are measured."""
    body, content_type = multipart(b"slow.zip", npy_zip(TRUTH))
    step = -(-len(body) // 40)

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), step):
            yield body[start : start + step]
            await asyncio.sleep(0.1)

    sending = asyncio.ensure_future(world.http.post(
        "/api/v1/tasks/lab/submissions?wait=30", content=pieces(),
        headers={**world.headers("team"), "content-type": content_type}))
    latencies = await _measure_while(world, sending)
    response = await sending
    return Outcome(response.status_code, "", {"max_latency_s": max(latencies), "measured": len(latencies),
                                               "submission": response.json()})


async def abandoned_upload(world: World) -> Outcome:
    """Half of an upload (its Content-Length announced), sent slowly, then the client goes away: nothing may be
    created, no quota taken, no error logged."""
    before = len((await world.http.get("/api/v1/submissions", headers=world.headers("team"))).json())
    body, content_type = multipart(b"gone.zip", npy_zip(TRUTH))
    head = (f"POST /api/v1/tasks/lab/submissions HTTP/1.1\r\nHost: podium\r\nAuthorization: Bearer {world.team}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    answer = await raw_exchange(world.url, head + body[: len(body) // 2], piece=4096, pause_s=0.02,
                                read_timeout_s=0.5)
    await asyncio.sleep(0.5)
    after = len((await world.http.get("/api/v1/submissions", headers=world.headers("team"))).json())
    return Outcome(status_of(answer), answer.decode("latin-1"), {"before": before, "after": after})


async def wildcard_follow(world: World) -> Outcome:
    return await on_socket(json.dumps({"follow": ["*", ">", "lab.>", "../lab"]}), "not json")(world)


async def presigned_key(world: World) -> Outcome:
    response = await world.http.post("/api/v1/submissions", headers=world.headers("team"), json={
        "task_id": "lab", "filename": "../../etc/passwd\u0000.zip", "size_bytes": 10})
    ticket = response.json()
    key = f"lab/{world.team_id}/{ticket['submission_id']}.zip"
    return Outcome(response.status_code, "", {"path": urlsplit(ticket["upload_url"]).path, "key": key})


def team_named(name: str) -> Send:
    async def send(world: World) -> Outcome:
        outcome = await http("POST", "/api/v1/teams", "admin", json={"name": name, "password": "long-enough-1"})(world)
        if outcome.status == 200:
            shown = await http("GET", f"/api/v1/teams/{outcome.body['id']}", "admin")(world)
            return Outcome(200, "", {**outcome.body, "shown": shown.body["name"]})
        return outcome

    return send


# --- the corpus ------------------------------------------------------------------------------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_INSIDE = b'{"name": "a", "password": "b", "x": ' + DEEP + b"}"
OVERSIZED = b'{"task_id": "' + b"x" * (17 * MIB) + b'"}'  # the gateway's default limit is 16 MiB
JSON_TYPE = {"content-type": "application/json"}
GOOD = npy_zip(TRUTH)
ZERO_MODEL = linear_model(np.zeros((64, 10), np.float32), np.zeros(10, np.float32))
TOO_MANY_PARTS = [(f"f{i}", ("a", b"x")) for i in range(2000)]


async def _chunked(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), MIB):
        yield data[start : start + MIB]


def oversized_chunked(world: World) -> Awaitable[Outcome]:
    return http("POST", "/api/v1/submissions", headers=JSON_TYPE, content=_chunked(OVERSIZED))(world)


# The gateway's own words for a JSON body it cannot read, by kind (never the decoder's, which change by release).
NOT_UTF8 = "the JSON is not valid UTF-8"
TOO_DEEP = "the JSON is nested too deeply"
MALFORMED = "the JSON is not well-formed"
WRONG_VALUE = "the JSON has a missing or invalid value at"
FOLLOW = 'send {"follow": [task ids]}: '


def sizes_and_bodies() -> list[Case]:
    too_large = Refused(413, "Request Entity Too Large")
    nested = Refused(400, TOO_DEEP)
    return [
        Case("17 MiB JSON body", http("POST", "/api/v1/submissions", headers=JSON_TYPE, content=OVERSIZED), too_large),
        Case("17 MiB JSON body, chunked", oversized_chunked, too_large),
        Case("17 MiB JSON login, anonymous", http("POST", "/auth/login", "nobody", headers=JSON_TYPE,
                                                  content=OVERSIZED), too_large),
        Case("100k nested arrays as the body", http("POST", "/api/v1/submissions", headers=JSON_TYPE, content=DEEP),
             nested),
        Case("100k nested arrays in an unknown field", http("POST", "/auth/login", "nobody", headers=JSON_TYPE,
                                                            content=DEEP_INSIDE), nested),
        Case("100k nested arrays in a question", http("POST", "/api/v1/qa/questions", headers=JSON_TYPE,
                                                      content=DEEP_INSIDE), nested),
        Case("100k nested arrays in a rescore", http("POST", "/api/v1/admin/rescores", "admin", headers=JSON_TYPE,
                                                     content=DEEP_INSIDE), nested),
        Case("100k nested arrays in a team (admin's JSON-or-CSV route)",
             http("POST", "/api/v1/admin/teams", "admin", headers=JSON_TYPE, content=DEEP_INSIDE),
             Refused(400, f"invalid team: {TOO_DEEP}")),
        Case("100k nested arrays without a token", http("POST", "/api/v1/submissions", "nobody", headers=JSON_TYPE,
                                                        content=DEEP), Refused(401, "Not authenticated")),
        Case("JSON body not UTF-8", http("POST", "/api/v1/submissions", headers=JSON_TYPE,
                                         content=b'{"task_id": "\xff\xfe", "filename": "a", "size_bytes": 1}'),
             Refused(400, f"{NOT_UTF8} (byte 13)")),
        Case("login not UTF-8", http("POST", "/auth/login", "nobody", headers=JSON_TYPE,
                                     content=b'{"name": "\xc3\x28", "password": "x"}'),
             Refused(400, f"{NOT_UTF8} (byte 10)")),
        Case("team not UTF-8", http("POST", "/api/v1/admin/teams", "admin", headers=JSON_TYPE,
                                    content=b'{"name": "\xed\xa0\x80", "password": "long-enough-1"}'),
             Refused(400, f"invalid team: {NOT_UTF8} (byte 10)")),
        Case("team JSON cut short", http("POST", "/api/v1/admin/teams", "admin", headers=JSON_TYPE,
                                         content=b'{"name": "a", "password": '),
             Refused(400, f"invalid team: {MALFORMED}")),
        Case("team name a number", http("POST", "/api/v1/admin/teams", "admin", json={
            "name": 3, "password": "long-enough-1"}),
             Refused(400, f"invalid team: {WRONG_VALUE} $.name: expected str")),
        Case("lone UTF-16 surrogate escape", http("POST", "/api/v1/qa/questions", headers=JSON_TYPE,
                                                  content=b'{"title": "\\ud800", "content": "x"}'),
             Refused(400, MALFORMED)),
        Case("CSV row not UTF-8", http("POST", "/api/v1/admin/teams", "admin", headers={"content-type": "text/csv"},
                                       content=b"name,password\n\xff\xfe,long-enough-1\n"),
             Holds("the row is refused in the report", lambda o: o.status == 200 and o.body["refused"] == 1
                   and o.body["rows"][0]["reason"] == "not valid UTF-8")),
        Case("CSV over 512 KiB", http("POST", "/api/v1/admin/teams", "admin", headers={"content-type": "text/csv"},
                                      content=b"name,password\n" + b"a,b\n" * 200_000),
             Refused(413, "the CSV is larger than 512 KiB")),
        Case("question of 2 MB", http("POST", "/api/v1/qa/questions", json={"title": "t", "content": "c" * 2_000_000}),
             Refused(413, "the request is too large to forward")),
        Case("100k team members", http("POST", "/api/v1/teams", "admin", json={
            "name": "many", "password": "long-enough-1", "members": [{"name": "a"}] * 100_000}),
            Refused(413, "the request is too large to forward")),
        Case("password of 100 KB", http("POST", "/api/v1/teams", "admin", json={"name": "pw",
                                                                                  "password": "x" * 100_000}),
             Refused(422, "password is longer than 256 characters")),
        Case("login of 100 KB", http("POST", "/auth/login", "nobody", json={"name": "x" * 100_000, "password": "y"}),
             Refused(401, "Incorrect team name or password")),
        Case("refresh token of 100 KB", http("POST", "/api/v1/auth/refresh", "nobody",
                                             json={"refresh_token": "x" * 100_000}),
             Refused(401, "refresh token is invalid")),
    ]


def wrong_content_types() -> list[Case]:
    start = {"task_id": "lab", "filename": "a.zip", "size_bytes": 10}
    return [
        Case("text/plain to a JSON route", http("POST", "/api/v1/submissions", content=b"task_id=lab",
                                                headers={"content-type": "text/plain"}),
             Refused(400, MALFORMED)),
        Case("a form to a JSON route", http("POST", "/api/v1/submissions", data=start),
             Refused(400, MALFORMED)),
        Case("an empty body to a JSON route", http("POST", "/api/v1/submissions", headers=JSON_TYPE, content=b""),
             Refused(400, f"{WRONG_VALUE} $")),
        Case("a JSON array for an object", http("POST", "/api/v1/submissions", json=[start]),
             Refused(400, f"{WRONG_VALUE} $: expected object")),
        Case("JSON to the upload route", http("POST", "/api/v1/tasks/lab/submissions", json={"file": "x"}),
             Refused(400, "Invalid multipart/form-data")),
        Case("text/plain to the upload route", http("POST", "/api/v1/tasks/lab/submissions", content=b"PK",
                                                    headers={"content-type": "text/plain"}),
             Refused(400, "Invalid multipart/form-data")),
        Case("multipart without the 'file' part", http("POST", "/api/v1/tasks/lab/submissions",
                                                       files={"other": ("a.zip", GOOD)}),
             Refused(400, "Object missing required field `file`")),
        Case("multipart of 2000 parts", http("POST", "/api/v1/tasks/lab/submissions", files=TOO_MANY_PARTS),
             Refused(400, "the multipart form is over a limit: at most 1000 parts")),
        Case("XML to the team route", http("POST", "/api/v1/admin/teams", "admin", content=b"<team/>",
                                           headers={"content-type": "application/xml"}),
             Refused(415, "send JSON (one team), text/csv or a multipart 'file'")),
        Case("DELETE on the submissions list", http("DELETE", "/api/v1/submissions"),
             Refused(405, "Method Not Allowed")),
    ]


def keys_and_subjects() -> list[Case]:
    """Path traversal and NATS-subject injection in every string that becomes a key or a subject."""
    no_route = Refused(404, "Not Found")
    tasks = "tasks: recon, lab, digits, digits-quick, closed"
    stored_nul = Refused(422, "text in the request contains a character that cannot be stored")
    bad_version = Refused(422, "is not a valid subject token (letters, digits, '_' and '-' only)")
    x = b"x"
    return [
        Case("task id '../../etc' in the upload URL", http("POST", "/api/v1/tasks/..%2F..%2Fetc/submissions",
                                                           files={"file": ("a.zip", x)}), no_route),
        Case("task id '..'", http("POST", "/submit/%2E%2E", files={"file": ("a.zip", x)}),
             Refused(404, f"no task '..'; {tasks}")),
        Case("task id 'task.>'", http("POST", "/submit/task.%3E", files={"file": ("a.zip", x)}),
             Refused(404, "no task 'task.>'")),
        Case("task id '*'", http("POST", "/submit/*", files={"file": ("a.zip", x)}), Refused(404, "no task '*'")),
        Case("task id with a space", http("POST", "/submit/re%20con", files={"file": ("a.zip", x)}),
             Refused(404, "no task 're con'")),
        Case("task id with NUL", http("POST", "/submit/recon%00", files={"file": ("a.zip", x)}),
             Refused(404, "no task 'recon\\x00'")),
        Case("task id not UTF-8 (query)", http("GET", "/api/v1/submissions?task_id=%ff%fe"),
             Refused(404, "no task '\ufffd\ufffd'")),
        Case("task id '../../etc' (query)", http("GET", "/api/v1/submissions?task_id=../../etc"),
             Refused(404, "no task '../../etc'")),
        Case("task id '../../etc' in a history URL", http("GET", "/teams/me/submissions/..%2F..%2Fetc"), no_route),
        Case("presigned start, task '../../etc'", http("POST", "/api/v1/submissions", json={
            "task_id": "../../etc", "filename": "a.zip", "size_bytes": 10}), Refused(404, "no task '../../etc'")),
        Case("presigned start, task 'recon.>'", http("POST", "/api/v1/submissions", json={
            "task_id": "recon.>", "filename": "a.zip", "size_bytes": 10}), Refused(404, "no task 'recon.>'")),
        Case("presigned start, filename '../../etc/passwd' + NUL + '.zip'", presigned_key,
             Holds("the object key is the server's: <task>/<team>/<id>.zip", lambda o: o.status == 200
                   and o.body["path"] == f"/submissions/{o.body['key']}")),
        Case("upload named '../../etc/passwd.zip'", upload(x, filename="../../etc/passwd.zip"),
             Fails("not a ZIP archive", filename="passwd.zip")),
        Case("upload named '/etc/passwd.zip'", upload(x, filename="/etc/passwd.zip"),
             Fails("not a ZIP", filename="passwd.zip")),
        Case("upload named 'C:\\..\\..\\boot.ini.zip'", upload(x, filename="C:\\..\\..\\boot.ini.zip"),
             Fails("not a ZIP", filename="boot.ini.zip")),
        Case("upload named with a raw NUL", http("POST", "/api/v1/tasks/lab/submissions?wait=30",
                                                 content=multipart(b"a\x00b.zip", x)[0],
                                                 headers={"content-type": multipart(b"", x)[1]}),
             Fails("not a ZIP", filename="ab.zip")),
        Case("upload named with a line break", http("POST", "/api/v1/tasks/lab/submissions?wait=30",
                                                    content=multipart(b"a\r\nX-Evil: 1.zip", x)[0],
                                                    headers={"content-type": multipart(b"", x)[1]}),
             Refused(400, "Validation failed for POST /api/v1/tasks/lab/submissions")),
        Case("upload named with 5 KB", upload(x, filename="x" * 5000 + ".zip"),
             Refused(400, "each part's headers (its file name included) within 4 KiB")),
        Case("board of task '../../etc'", http("GET", "/api/v1/leaderboards/..%2F..%2Fetc", "nobody"), no_route),
        Case("board of task 'task.>'", http("GET", "/leaderboard/task.%3E", "nobody"),
             Refused(404, "no task 'task.>'")),
        Case("board of task NUL", http("GET", "/leaderboard/%00", "nobody"), Refused(404, "no task '\\x00'")),
        Case("board of task not UTF-8", http("GET", "/leaderboard/%ff%fe", "nobody"),
             Refused(404, "no task '\ufffd\ufffd'")),
        Case("CSV export of task '*'", http("GET", "/api/v1/leaderboards/*/export.csv", "nobody"),
             Refused(404, "no task '*'")),
        Case("board at a time of 5 digits", http("GET", "/api/v1/leaderboards/lab?at=99999-01-01T00:00:00Z", "nobody"),
             Refused(400, "Invalid RFC3339 encoded datetime")),
        Case("reveal task 'lab.>'", http("POST", "/api/v1/admin/leaderboards/lab.%3E/reveal", "admin", json={}),
             Refused(404, "no task 'lab.>'")),
        Case("finals of task '*'", http("PUT", "/api/v1/tasks/%2A/finals", json={"submission_ids": []}),
             Refused(404, "no task '*'")),
        Case("rescore of task '../x'", http("POST", "/api/v1/admin/rescores", "admin", json={"task_id": "../x"}),
             Refused(404, "no task '../x'")),
        Case("rescore version '../../x'", http("POST", "/api/v1/admin/rescores", "admin", json={
            "task_id": "lab", "scorer_version": "../../x"}), bad_version),
        Case("rescore version 'v.>'", http("POST", "/api/v1/admin/rescores", "admin", json={
            "task_id": "lab", "scorer_version": "v.>"}), bad_version),
        Case("rescore version with NUL", http("POST", "/api/v1/admin/rescores", "admin", json={
            "task_id": "lab", "scorer_version": "v\u0000"}), bad_version),
        Case("rescore version with a space", http("POST", "/api/v1/admin/rescores", "admin", json={
            "task_id": "lab", "scorer_version": "v 2"}), bad_version),
        Case("rescore id 'a.>'", http("GET", "/api/v1/admin/rescores/a.%3E", "admin"),
             Refused(404, "no rescore 'a.>'")),
        Case("rescore id NUL", http("GET", "/api/v1/admin/rescores/%00", "admin"), stored_nul),
        Case("rescore id '../../x'", http("GET", "/api/v1/admin/rescores/..%2F..%2Fx", "admin"), no_route),
        Case("team named '../../etc/passwd'", team_named("../../etc/passwd"),
             Holds("a display name (teams are keyed by id): kept as typed", lambda o: o.status == 200
                   and o.body["shown"] == "../../etc/passwd")),
        Case("team named 'team.>'", team_named("team.>"),
             Holds("a display name: kept as typed", lambda o: o.status == 200 and o.body["shown"] == "team.>")),
        Case("team named with NUL", team_named("a\u0000b"), Refused(422, "team name contains control characters")),
        Case("team named with 5 KB", team_named("x" * 5000), Refused(422, "team name is longer than 64 characters")),
        Case("question with NUL", http("POST", "/api/v1/qa/questions", json={"title": "a\u0000b", "content": "c"}),
             stored_nul),
        Case("question titled '../../etc/passwd'", http("POST", "/api/v1/qa/questions", json={
            "title": "../../etc/passwd", "content": "qa.question.>"}),
            Holds("text, kept as typed", lambda o: o.status == 200 and o.body["title"] == "../../etc/passwd")),
        Case("login name with NUL", http("POST", "/auth/login", "nobody", json={"name": "a\u0000", "password": "b"}),
             stored_nul),
        Case("audit filters with NUL and '../'", http("GET", "/api/v1/admin/audit?action=%00&target=..%2F", "admin"),
             stored_nul),
        Case("follow '*', '>' and 'lab.>' on /ws", wildcard_follow,
             Holds("no board for a wildcard: refused as unknown tasks, then the error for the next frame",
                   lambda o: o.status == 1000 and o.detail.startswith("no such task: '*', '>', 'lab.>', …")
                   and [m["type"] for m in o.body] == ["error", "error"])),
    ]


def ids_and_numbers() -> list[Case]:
    out_of_range = Refused(422, "out of int64 range")
    return [
        Case("submission id 10**20", http("GET", f"/api/v1/submissions/{HUGE}"), out_of_range),
        Case("submission id 2**63 (MLS-GOAT path)", http("GET", f"/submissions/{BIG}"), out_of_range),
        Case("complete submission 2**63", http("POST", f"/api/v1/submissions/{BIG}/complete", json={}), out_of_range),
        Case("cancel submission 2**63", http("POST", f"/api/v1/submissions/{BIG}/cancel"), out_of_range),
        Case("logs of submission 2**63", http("GET", f"/api/v1/submissions/{BIG}/logs"), out_of_range),
        Case("details of submission 2**63", http("GET", f"/api/v1/submissions/{BIG}/details"), out_of_range),
        Case("submission id -1", http("GET", "/api/v1/submissions/-1"), Refused(404, "Submission not found")),
        Case("team 2**63", http("GET", f"/api/v1/teams/{BIG}", "admin"), out_of_range),
        Case("edit team 2**63", http("PUT", f"/api/v1/teams/{BIG}", "admin", json={"name": "x"}), out_of_range),
        Case("delete team 10**20", http("DELETE", f"/api/v1/admin/teams/{HUGE}", "admin"), out_of_range),
        Case("question 2**63", http("GET", f"/api/v1/qa/questions/{BIG}"), out_of_range),
        Case("answer question 2**63", http("PUT", f"/api/v1/qa/questions/{BIG}", "admin", json={"answer": "a"}),
             out_of_range),
        Case("questions from -1", http("GET", "/api/v1/qa/questions?skip=-1"),
             Refused(422, "OFFSET must not be negative")),
        Case("questions, limit -1", http("GET", "/api/v1/qa/questions?limit=-1"),
             Refused(422, "LIMIT must not be negative")),
        Case("questions from 2**63", http("GET", f"/api/v1/qa/questions?skip={BIG}"), out_of_range),
        Case("quota of an unknown task", http("GET", "/api/v1/tasks/no-such-task/quota"),
             Refused(404, "no task 'no-such-task'")),
        Case("quota asked by an admin", http("GET", "/api/v1/tasks/lab/quota", "admin"),
             Refused(403, "log in as a team")),
        Case("finals [2**63]", http("PUT", "/api/v1/tasks/lab/finals", json={"submission_ids": [BIG]}), out_of_range),
        Case("rescore of submission 2**63", http("POST", "/api/v1/admin/rescores", "admin", json={
            "task_id": "lab", "submission_ids": [BIG]}), out_of_range),
        Case("board at year 1, +14:00 (before PostgreSQL's range in UTC)",
             http("GET", "/api/v1/leaderboards/lab?at=0001-01-01T00:00:00%2B14:00", "nobody"),
             Refused(422, "(date value out of range)")),
        Case("audit until 9999-12-31, -14:00", http("GET", "/api/v1/admin/audit?until=9999-12-31T23:59:59-14:00",
                                                     "admin"), Refused(422, "(date value out of range)")),
        Case("rescore of submissions after 9999-12-31, -14:00", http("POST", "/api/v1/admin/rescores", "admin", json={
            "task_id": "lab", "submitted_after": "9999-12-31T23:59:59-14:00"}),
            Refused(422, "(date value out of range)")),
        Case("audit limit 10**20", http("GET", f"/api/v1/admin/audit?limit={HUGE}", "admin"),
             Refused(400, "Expected `int` <= 1000")),
        Case("team size 10**20", http("POST", "/api/v1/teams", "admin", json={
            "name": "big", "password": "long-enough-1", "max_size": HUGE}),
            Refused(422, "max team size must be between 1 and 100")),
        Case("presigned size -5", http("POST", "/api/v1/submissions", json={
            "task_id": "lab", "filename": "a.zip", "size_bytes": -5}),
            Refused(422, "size must be 1 to 2000000 bytes for task lab, got -5")),
        Case("presigned size 0", http("POST", "/api/v1/submissions", json={
            "task_id": "lab", "filename": "a.zip", "size_bytes": 0}),
            Refused(422, "size must be 1 to 2000000 bytes for task lab, got 0")),
        Case("presigned size 10**30", http("POST", "/api/v1/submissions", json={
            "task_id": "lab", "filename": "a.zip", "size_bytes": 10**30}),
            Refused(413, f"size must be 1 to 2000000 bytes for task lab, got {10**30}")),
        Case("presigned size 1.5", http("POST", "/api/v1/submissions", json={
            "task_id": "lab", "filename": "a.zip", "size_bytes": 1.5}),
             Refused(400, f"{WRONG_VALUE} $.size_bytes: expected int")),
        Case("presigned sha256 '../../etc'", http("POST", "/api/v1/submissions", json={
            "task_id": "lab", "filename": "a.zip", "size_bytes": 10, "sha256": "../../etc"}),
            Refused(422, "sha256 must be 64 lowercase hex digits")),
        Case("direct upload of 3 MB (over the task's 2 MB)", upload(b"x" * 3_000_000),
             Refused(413, "size must be 1 to 2000000 bytes for task lab, got a request of 3000")),
        Case("direct upload of 0 bytes", upload(b""),
             Refused(422, "size must be 1 to 2000000 bytes for task lab, got 0")),
        Case("wait=nan", http("POST", "/api/v1/tasks/lab/submissions?wait=nan", files={"file": ("a.zip", GOOD)}),
             Refused(400, "wait must be a number of seconds (0 to 600), not NaN")),
        Case("wait=1e400", http("POST", "/api/v1/tasks/lab/submissions?wait=1e400", files={"file": ("a.zip", GOOD)}),
             Refused(400, "Number out of range")),
    ]


# Route families, each with a request that needs a signed-in caller.
SIGNED_IN = {
    "me": ("GET", "/api/v1/auth/me", None),
    "teams": ("GET", "/api/v1/teams", None),
    "edit team": ("PUT", "/api/v1/teams/1", {"name": "x"}),
    "create team": ("POST", "/api/v1/teams", {"name": "x", "password": "long-enough-1"}),
    "admin teams": ("GET", "/api/v1/admin/teams", None),
    "delete team": ("DELETE", "/api/v1/admin/teams/1", None),
    "admin stats": ("GET", "/api/v1/admin/stats", None),
    "questions": ("GET", "/api/v1/qa/questions", None),
    "ask": ("POST", "/api/v1/qa/questions", {"title": "t", "content": "c"}),
    "announce": ("POST", "/api/v1/qa/announcements", {"title": "t", "content": "c"}),
    "start upload": ("POST", "/api/v1/submissions", {"task_id": "lab", "filename": "a", "size_bytes": 1}),
    "complete upload": ("POST", "/api/v1/submissions/1/complete", {}),
    "history": ("GET", "/api/v1/submissions", None),
    "one submission": ("GET", "/submissions/1", None),
    "cancel": ("POST", "/api/v1/submissions/1/cancel", None),
    "logs": ("GET", "/api/v1/submissions/1/logs", None),
    "queues": ("GET", "/api/v1/queues", None),
    "quota": ("GET", "/api/v1/tasks/lab/quota", None),
    "finals": ("PUT", "/api/v1/tasks/lab/finals", {"submission_ids": []}),
    "standing": ("POST", "/api/v1/admin/teams/1/standing", {"hidden": True}),
    "reveal": ("POST", "/api/v1/admin/leaderboards/lab/reveal", {"revealed": True}),
    "audit": ("GET", "/api/v1/admin/audit", None),
    "rescore": ("POST", "/api/v1/admin/rescores", {"task_id": "lab"}),
    "rescore status": ("GET", "/api/v1/admin/rescores/x", None),
    "standings": ("GET", "/api/v1/admin/standings", None),
    "admin submissions": ("GET", "/api/v1/admin/submissions", None),
    "admin submissions, MLS-GOAT's": ("GET", "/api/admin/submissions", None),
    "withdraw": ("DELETE", "/api/v1/admin/submissions/1", None),
    "set the GPU server": ("POST", "/api/gpu-server-ip", {"gpu_server_ip": "http://127.0.0.1:9"}),
    "reset the GPU server": ("DELETE", "/gpu-server-ip", None),
    "leaderboard settings, admin": ("GET", "/api/admin/settings/leaderboard", None),
    "reveal every board": ("POST", "/api/admin/settings/leaderboard?show_private=true", None),
    "answer": ("POST", "/api/qa/questions/1/answers", {"content": "c"}),
    "delete a question": ("DELETE", "/api/v1/qa/questions/1", None),
    "delete an answer": ("DELETE", "/api/qa/answers/1", None),
}
ADMIN_ONLY = ["admin teams", "delete team", "admin stats", "announce", "standing", "reveal", "audit", "rescore",
              "standings", "admin submissions", "admin submissions, MLS-GOAT's", "withdraw", "set the GPU server",
              "reset the GPU server", "leaderboard settings, admin", "reveal every board", "answer",
              "delete an answer"]


def tokens() -> list[Case]:
    def request(family: str, who: str) -> Send:
        method, path, body = SIGNED_IN[family]
        return http(method, path, who, **({"json": body} if body is not None else {}))

    families = list(SIGNED_IN)
    return [
        *(Case(f"no token: {family}", request(family, "nobody"), Refused(401, "Not authenticated"))
          for family in families),
        Case("no token: upload", http("POST", "/submit/task1", "nobody", files={"file": ("a.zip", GOOD)}),
             Refused(401, "Not authenticated")),
        *(Case(f"forged token ({kind}): {family}", request(family, f"forged:{kind}"),
               Refused(401, f"Could not validate credentials: {words}"))
          for (kind, words), family in zip(FORGED.items(), ["me", "admin teams", "admin stats", "history", "teams",
                                                           "audit"], strict=True)),
        Case("Basic instead of Bearer", request("me", "Basic YWRtaW46YWRtaW4="),
             Refused(401, "Authorization header must be 'Bearer <token>'")),
        Case("Authorization header not UTF-8", raw(
            b"GET /api/v1/auth/me HTTP/1.1\r\nHost: podium\r\nAuthorization: Bearer \xff\xfe\x80\r\n"
            b"Connection: close\r\n\r\n"), Refused(401, "Could not validate credentials: malformed token")),
        *(Case(f"team token on an admin route: {family}", request(family, "team"),
               Refused(403, "Admin privileges required")) for family in ADMIN_ONLY),
        Case("no token on /ws", on_socket(who="nobody"), Refused(4401, "a valid token is required")),
        Case("forged token on /ws", on_socket(who="forged:EdDSA by another key, the real kid"),
             Refused(4401, "invalid token: Signature verification failed")),
        Case("token in the /ws URL", token_in_url, Refused(4401, "never in the URL")),
    ]


def sockets_and_bytes() -> list[Case]:
    bad_request = Refused(400, "Invalid HTTP request received.")
    flood = b"GET /liveness HTTP/1.1\r\nHost: podium\r\n" + b"".join(b"X-H%05d: v\r\n" % i for i in range(10_000))
    return [
        Case("10k headers", raw(flood + b"\r\n", piece=4096, pause_s=0.02), bad_request),
        Case("one header of 1 MB", raw(b"GET /liveness HTTP/1.1\r\nHost: podium\r\nX-Big: " + b"a" * MIB + b"\r\n\r\n"),
             bad_request),
        Case("request line not ASCII", raw(b"GET /api/v1/\xff\xfe HTTP/1.1\r\nHost: podium\r\n\r\n"), bad_request),
        Case("NUL in a header", raw(b"GET /liveness HTTP/1.1\r\nHost: podium\r\nX-A: a\x00b\r\n\r\n"), bad_request),
        Case("a TLS handshake on the HTTP port", raw(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"
                                                     + bytes(range(256))), bad_request),
        Case("Content-Length -1", raw(b"POST /auth/login HTTP/1.1\r\nHost: podium\r\nContent-Length: -1\r\n\r\n"),
             bad_request),
        Case("Content-Length of 20 digits", raw(
            b"POST /auth/login HTTP/1.1\r\nHost: podium\r\nContent-Type: application/json\r\n"
            b"Content-Length: 99999999999999999999\r\n\r\n{}"), Refused(413, "Request Entity Too Large")),
        Case("header value not UTF-8", raw(b"GET /liveness HTTP/1.1\r\nHost: podium\r\nX-A: \xff\xfe\r\n"
                                           b"Connection: close\r\n\r\n"),
             Holds("bytes in a header nobody reads are no error: served", lambda o: o.status == 200)),
        Case("slowloris: 20 connections dripping headers for 3 s", slowloris,
             Holds("others answered within 0.5 s meanwhile; each slow request answered once complete", lambda o:
                   o.body["measured"] >= 10 and o.body["max_latency_s"] < 0.5
                   and o.body["slow_answers"] == [200] * 20)),
        Case("slow upload: a good archive in 40 pieces over 4 s", slow_upload,
             Holds("scored as usual; others answered within 0.5 s meanwhile", lambda o: o.status == 200
                   and o.body["submission"]["status"] == "scored" and o.body["submission"]["public_score"] == 100.0
                   and o.body["measured"] >= 10 and o.body["max_latency_s"] < 0.5)),
        Case("abandoned upload: half the body, then gone", abandoned_upload,
             Holds("no answer, no submission created", lambda o: o.status == 0
                   and o.body["after"] == o.body["before"])),
        Case("10k nested arrays on /ws", on_socket('{"x": ' + "[" * 10_000 + "]" * 10_000 + "}"),
             Refused(1000, FOLLOW + TOO_DEEP)),
        Case("binary garbage on /ws", on_socket(b"\xff\xfe\x00binary"), Refused(1000, FOLLOW + MALFORMED)),
        Case("a task id for a list on /ws", on_socket(json.dumps({"follow": "lab"})),
             Refused(1000, f"{FOLLOW}{WRONG_VALUE} $.follow: expected array")),
        Case("a 17 MiB frame on /ws", on_socket(json.dumps({"follow": ["x" * 100] * 170_000})),
             Refused(1009, "exceeds limit")),
        Case("a 100 KiB follow list on /ws", on_socket(json.dumps({"follow": [f"t{n}" for n in range(15_000)]})),
             Refused(1009, "exceeds limit")),
        Case("3,000 task ids on /ws (more than the competition has)",
             on_socket(json.dumps({"follow": [f"t{n}" for n in range(3_000)]})),
             Refused(1000, "tasks at once (the competition's tasks and boards)")),
        Case("one task id 40 times on /ws", on_socket(json.dumps({"follow": ["lab"] * 40})),
             Holds("followed once, nothing refused", lambda o: o.status == 1000
                   and [m["type"] for m in o.body].count("board") == 1 and "error" not in {m["type"] for m in o.body})),
        Case("an unknown task id on /ws", on_socket(json.dumps({"follow": ["lab", "no-such-task"]})),
             Holds("the known task is followed, the unknown one refused by name", lambda o: o.status == 1000
                   and {"type": "error", "detail": "no such task: 'no-such-task'"} in o.body
                   and "board" in {m["type"] for m in o.body})),
    ]


def archives_and_models() -> list[Case]:
    shared = hostile_archives(TRUTH, CODE_RAN)  # the submission tests' own refusals, the same bytes
    w, b = np.zeros((64, 10), np.float32), np.zeros(10, np.float32)
    models = {
        "not an ONNX model": (b"this is not a model", "not an ONNX model"),
        "a ZIP sent as a model": (GOOD, "not an ONNX model"),
        "custom op domain": (to_bytes(linear_model(w, b, domain="com.evil")), "com.evil"),
        "external data": (with_external_data(linear_model(w, b)), "external data"),
        "wrong input name": (to_bytes(linear_model(w, b, input_name="../../etc")), "'input'"),
    }
    return [
        *(Case(f"archive: {name}", upload(data), Fails(words))
          for name, (data, words) in {**shared, **crafted_archives(TRUTH)}.items()),
        *(Case(f"model: {name}", upload(data, task="digits", filename="model.onnx"), Fails(words))
          for name, (data, words) in models.items()),
    ]


def wrong_files() -> list[Case]:
    """Files that cannot be a submission to the task: refused as their upload starts, spending no quota."""
    zip_task = "task lab takes a ZIP of the result tensors, a .zip file; got"
    model_task = "task digits takes an ONNX model, a .onnx file; got"

    def sent(filename: str, content_type: str, task: str = "lab") -> Send:
        return http("POST", f"/api/v1/tasks/{task}/submissions?wait=30",
                    files={"file": (filename, b"hello, this is not a submission\n", content_type)})

    async def history_unchanged(world: World) -> Outcome:
        before = (await world.http.get("/api/v1/submissions", headers=world.headers("team"))).json()
        refused = await sent("notes.txt", "text/plain")(world)
        after = (await world.http.get("/api/v1/submissions", headers=world.headers("team"))).json()
        newest = {"before": before[0]["id"] if before else None, "after": after[0]["id"] if after else None}
        return Outcome(refused.status, refused.detail, newest)

    return [
        Case("a .txt upload", sent("notes.txt", "text/plain"), Refused(415, f"{zip_task} 'notes.txt'")),
        Case("a .txt upload declared as a ZIP", sent("notes.txt", "application/zip"),
             Refused(415, f"{zip_task} 'notes.txt'")),
        Case("an upload named '../../etc/passwd'", sent("../../etc/passwd", "application/octet-stream"),
             Refused(415, f"{zip_task} 'passwd'")),
        Case("a .zip declared as text/plain", sent("preds.zip", "text/plain"),
             Refused(415, f"{zip_task} 'preds.zip' sent as 'text/plain'")),
        Case("a model sent to a ZIP task", sent("model.onnx", "application/octet-stream"),
             Refused(415, f"{zip_task} 'model.onnx'")),
        Case("a ZIP sent to a model task", sent("preds.zip", "application/zip", task="digits"),
             Refused(415, f"{model_task} 'preds.zip'")),
        Case("a presigned start of a .txt", http("POST", "/api/v1/submissions", json={
            "task_id": "lab", "filename": "notes.txt", "size_bytes": 10}), Refused(415, f"{zip_task} 'notes.txt'")),
        Case("a refused .txt leaves no submission behind", history_unchanged,
             Holds("415, and the team's newest submission is the one before", lambda o: o.status == 415
                   and o.body["before"] == o.body["after"])),
    ]


CORPUS = [*sizes_and_bodies(), *wrong_content_types(), *keys_and_subjects(), *ids_and_numbers(), *tokens(),
          *sockets_and_bytes(), *archives_and_models(), *wrong_files()]


# --- the tests -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def log_marks(tmp_path_factory: pytest.TempPathFactory, gateway_url: str, scoring_services: ScoringServices
              ) -> dict[Path, int]:
    """Where each service's log stands before the corpus."""
    return marks_of(tmp_path_factory.getbasetemp(), SERVICES)


@pytest.fixture(scope="module")
async def world(gateway: AsyncTestClient, gateway_url: str, admin_token: str, competition: tuple[Path, Competition],
                log_marks: dict[Path, int]) -> AsyncIterator[World]:
    assert task_of(competition, "lab") == LAB
    team_id, token = await team_token(gateway, admin_token)
    world: World | None = None

    async def record(response: httpx.Response) -> None:
        ANSWERS.append((world.case if world else "setup", response.status_code))

    async with httpx.AsyncClient(base_url=gateway_url, timeout=60, event_hooks={"response": [record]}) as client:
        kid = (await client.get("/api/v1/auth/jwks")).json()["keys"][0]["kid"]
        world = World(gateway_url, client, token, team_id, admin_token, kid)
        yield world


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
async def test_hostile_input_gets_a_clear_refusal(world: World, case: Case) -> None:
    world.case = case.id
    case.expect.check(await case.send(world))


async def test_after_the_corpus_the_platform_is_whole(world: World, log_marks: dict[Path, int]) -> None:
    world.case = "after the corpus"
    server_errors = [(case, status) for case, status in ANSWERS if status >= 500]
    assert not server_errors, server_errors
    health = await world.http.get("/api/v1/health")
    assert health.status_code == 200 and health.json()["ready"], health.text
    assert {s["service"] for s in health.json()["services"] if s["ready"]} == set(SERVICES) - {"gateway"}
    assert (await world.http.get("/readiness")).status_code == 200
    scored = await upload(GOOD)(world)
    assert (scored.body["status"], scored.body["public_score"]) == ("scored", 100.0), scored
    model = await upload(to_bytes(ZERO_MODEL), task="digits", filename="model.onnx")(world)
    assert model.body["status"] == "scored", model
    assert not CODE_RAN.exists(), "a pickle in a submission ran code"
    errors = errors_logged_since(log_marks)
    assert not errors, "\n".join(errors)
