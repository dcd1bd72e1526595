"""Hostile input to the scoring-program routes and the host-only log lines, through the public API of the running
platform (the gateway as its own uvicorn process over real sockets, submission_service as its process, real NATS,
PostgreSQL and S3), a sibling of `test_hostile_competition.py`'s corpus: anonymous callers and teams on the program
routes; uploads that are not programs (a ZIP reaching out with '..', a ZIP that inflates past the limits, a file named
.zip that is none, a ZIP without score.py, a program that is not the one announced); starts of absurd sizes, names
and digests; uploads completed under another task; and a scoring program's own output (host-only log lines), which
never reaches its team, neither in the submission's log nor over the team's live socket.

After the corpus: no answer was a 5xx, the competition is as it was (but for the corpus's own task), the gateway is
ready, and neither the gateway nor submission_service logged an error."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from litestar.testing import AsyncTestClient
from nats.aio.client import Client as NatsClient

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from podium_runtime.settings import ServiceSettings
from proto import encode
from proto.competition import Competition
from proto.events import JobLogged
from tests.api import bearer, live_socket, team_token
from tests.conftest import task_of
from tests.service.competition.host import Host, new_task
from tests.system.corpus import Holds, Outcome, Refused, errors_logged_since, outcome_of
from tests.system.corpus import log_marks as marks_of

pytestmark = pytest.mark.system

LOGGED = ("gateway", "submission_service")
ANSWERS: list[tuple[str, int]] = []
# What a scoring program printed about a submission: the host's to read, never its team's.
HOST_LINE = "program stdout: private Spearman 0.987654 on rows 17-42"
SOLUTION = b"id,target,Usage\nr1,1,Public\nr2,0,Private\n"


@dataclass
class World:
    http: httpx.AsyncClient
    nc: NatsClient
    gateway_url: str
    admin: str
    team: str
    team_id: int
    task_id: str  # the corpus's own program task, with its ground truth
    upload_id: str  # a program upload started for the corpus's own task
    submission_id: int  # the team's scored submission, whose log gets the program's line
    case: str = ""

    def headers(self, who: str) -> dict[str, str]:
        return {"admin": bearer(self.admin), "team": bearer(self.team), "nobody": {}}.get(who, {"Authorization": who})


Send = Callable[[World], Awaitable[Outcome]]


@dataclass(frozen=True)
class Case:
    id: str
    send: Send
    expect: Refused | Holds


def http(method: str, path: str | Callable[[World], str], who: str = "admin", **options: Any) -> Send:
    async def send(world: World) -> Outcome:
        url = path(world) if callable(path) else path
        return outcome_of(await world.http.request(method, url, **{**options, "headers": world.headers(who)}))

    return send


def zipped(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def uploaded(filename: str, data: bytes | Callable[[], bytes], *, announced: str | None = None,
             put: bytes | None = None) -> Send:
    """A program upload of `data` for the corpus's task, start → PUT → complete: the answer of `complete`.
    `announced`: the sha256 said at the start (the data's own by default); `put`: other bytes PUT instead."""

    async def send(world: World) -> Outcome:
        body = data() if callable(data) else data
        sha256 = hashlib.sha256(body).hexdigest() if announced is None else announced
        sent = body if put is None else put
        started = await world.http.post(f"/api/v1/admin/tasks/{world.task_id}/program", headers=world.headers("admin"),
                                        json={"size_bytes": len(sent), "filename": filename, "sha256": sha256})
        if started.status_code != 200:
            return outcome_of(started)
        async with httpx.AsyncClient() as storage:
            stored = await storage.put(started.json()["upload_url"], content=sent)
        assert stored.status_code == 200, stored.text
        return outcome_of(await world.http.post(f"/api/v1/admin/tasks/{world.task_id}/program/complete",
                                                headers=world.headers("admin"),
                                                json={"upload_id": started.json()["upload_id"]}))

    return send


def inflating_past_the_limit() -> bytes:
    """A ZIP of 70 KiB whose score.py says it inflates to 65 MiB (over the 64 MiB a program's file may be)."""
    return zipped(("score.py", b"\n" * (65 << 20)))


async def completed_under_another_task(world: World) -> Outcome:
    return await http("POST", "/api/v1/admin/tasks/lab/program/complete", json={"upload_id": world.upload_id})(world)


async def the_teams_log(world: World) -> Outcome:
    response = await world.http.get(f"/api/v1/submissions/{world.submission_id}/logs", headers=world.headers("team"))
    return outcome_of(response)


async def the_admins_log(world: World) -> Outcome:
    response = await world.http.get(f"/api/v1/submissions/{world.submission_id}/logs", headers=world.headers("admin"))
    return outcome_of(response)


async def the_teams_socket(world: World) -> Outcome:
    """What the team's live socket carries while the program's line (host only) and then a line of its own are
    logged about its submission: both come from one publisher in order, so the second arriving means the first was
    handled."""
    marker = f"the team's own line {uuid.uuid4().hex[:8]}"
    async with live_socket(world.gateway_url, world.team) as socket:
        await socket.send(json.dumps({"follow": []}))
        for line, host_only in ((HOST_LINE, True), (marker, False)):
            event = JobLogged(submission_id=str(world.submission_id), team_id=str(world.team_id), line=line,
                              host_only=host_only)
            await world.nc.publish(event.subject(), encode(event))
        await world.nc.flush()
        received: list[str] = []
        async with asyncio.timeout(30):
            while not any(marker in message for message in received):
                received.append(str(await socket.recv()))
    return Outcome(1000, "", received)


def never_the_host_line(outcome: Outcome) -> bool:
    return outcome.status in (200, 1000) and HOST_LINE not in json.dumps(outcome.body)


ROUTES = [
    ("POST", "/api/v1/admin/tasks/lab/program", {"json": {"size_bytes": 10, "filename": "score.py"}}),
    ("POST", "/api/v1/admin/tasks/lab/program/complete", {"json": {"upload_id": "x"}}),
]


def admins_only() -> list[Case]:
    cases = []
    for method, path, options in ROUTES:
        cases.append(Case(f"anonymous {method} {path}", http(method, path, "nobody", **options),
                          Refused(401, "Not authenticated")))
        cases.append(Case(f"a team's {method} {path}", http(method, path, "team", **options),
                          Refused(403, "Admin privileges required")))
    return cases


def uploads() -> list[Case]:
    good = b"def score(truth, submission, context):\n    return {}\n"
    return [
        Case("a ZIP reaching out with '..'", uploaded("p.zip", zipped(("score.py", good), ("../x.py", good))),
             Refused(422, "the program's ZIP was refused")),
        Case("a ZIP with an absolute path", uploaded("p.zip", zipped(("score.py", good), ("/etc/cron.d/x", good))),
             Refused(422, "the program's ZIP was refused")),
        Case("a ZIP inflating past the limits", uploaded("p.zip", inflating_past_the_limit),
             Refused(422, "the program's ZIP was refused")),
        Case("a file named .zip that is none", uploaded("p.zip", good), Refused(422, "not a ZIP archive")),
        Case("a ZIP without score.py", uploaded("p.zip", zipped(("main.py", good))),
             Refused(422, "no score.py at its root")),
        Case("a ZIP of 1,001 files", uploaded("p.zip", zipped(*[(f"f{i}.py", b"") for i in range(1001)])),
             Refused(422, "the program's ZIP was refused")),
        Case("a program that is not the one announced", uploaded("score.py", good, announced="0" * 64),
             Refused(422, "but 0000000000000000000000000000000000000000000000000000000000000000 was announced")),
        Case("a program that is not text", uploaded("score.py", b"\x7fELF\x02\x01\x01\xff"),
             Refused(422, "not UTF-8 text")),
    ]


def starts() -> list[Case]:
    def start(body: dict[str, Any], task: str | None = None) -> Send:
        return http("POST", lambda world: f"/api/v1/admin/tasks/{task or world.task_id}/program", json=body)

    return [
        Case("a program of 1 TB", start({"size_bytes": 10**12, "filename": "score.py"}),
             Refused(413, "size_bytes must be 1 to")),
        Case("a program of no bytes", start({"size_bytes": 0, "filename": "score.py"}),
             Refused(422, "size_bytes must be 1 to")),
        Case("a program of 2**70 bytes", start({"size_bytes": 2**70, "filename": "score.py"}),
             Holds("a 4xx", lambda o: 400 <= o.status < 500)),
        Case("a program that is an executable", start({"size_bytes": 10, "filename": "score.exe"}),
             Refused(422, "a program is a .py file")),
        Case("a filename of 64 KiB", start({"size_bytes": 10, "filename": "a" * (64 << 10) + ".sh"}),
             Refused(422, "a program is a .py file")),
        Case("a sha256 that is not one", start({"size_bytes": 10, "filename": "score.py", "sha256": "abc"}),
             Refused(422, "sha256 must be 64 lowercase hex digits")),
        Case("a sample of 1 TB", start({"size_bytes": 10, "filename": "score.py",
                                        "sample": {"size_bytes": 10**12, "filename": "s.csv"}}),
             Refused(413, "sample.size_bytes must be 1 to")),
        Case("a program for a task scored by a metric", start({"size_bytes": 10, "filename": "score.py"}, "lab"),
             Refused(409, "is not scored by a program")),
        Case("task id '..'", http("POST", "/api/v1/admin/tasks/%2E%2E/program",
                                  json={"size_bytes": 5, "filename": "score.py"}), Refused(404, "no task")),
        Case("a program upload completed under another task", completed_under_another_task,
             Refused(404, "no program upload")),
        Case("an upload id that is SQL", http("POST", lambda w: f"/api/v1/admin/tasks/{w.task_id}/program/complete",
                                              json={"upload_id": "' OR 1=1 --"}), Refused(404, "no program upload")),
    ]


def host_only_lines() -> list[Case]:
    return [
        Case("the program's line over the team's live socket", the_teams_socket,
             Holds("the team's socket never carries the host's line", never_the_host_line)),
        Case("the program's line in the team's log", the_teams_log,
             Holds("the team's log never holds the host's line", never_the_host_line)),
        Case("the program's line in the admin's log", the_admins_log,
             Holds("the admin reads it, marked host_only", lambda o: o.status == 200 and any(
                 line["line"] == HOST_LINE and line["host_only"] for line in o.body["lines"]))),
    ]


CORPUS = [*admins_only(), *uploads(), *starts(), *host_only_lines()]


# --- the tests -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def log_marks(tmp_path_factory: pytest.TempPathFactory, gateway_url: str) -> dict[Path, int]:
    return marks_of(tmp_path_factory.getbasetemp(), LOGGED)


@pytest.fixture(scope="module")
async def world(gateway: AsyncTestClient, gateway_url: str, admin_token: str, settings: ServiceSettings,
                competition: tuple[Path, Competition], log_marks: dict[Path, int]) -> AsyncIterator[World]:
    host = Host(gateway, admin_token)
    task = new_task(f"hostile-program-{uuid.uuid4().hex[:4]}", format="csv", metric="program")
    del task["shape"], task["samples"]
    await host.add_task(task)
    assert (await host.upload_ground_truth(task["id"], SOLUTION)).status_code == 200
    started = await gateway.post(f"/api/v1/admin/tasks/{task['id']}/program", headers=host.headers,
                                 json={"size_bytes": 10, "filename": "score.py"})
    assert started.status_code == 200, started.text
    team_id, token = await team_token(gateway, admin_token)
    truth = make_ground_truth(task_of(competition, "lab"))
    scored = await gateway.post("/api/v1/tasks/lab/submissions?wait=30", headers=bearer(token), files={
        "file": ("s.zip", npy_zip(noisy_submission(truth, 0.05, seed=34)), "application/zip")})
    assert scored.status_code == 200 and scored.json()["status"] == "scored", scored.text
    cases: list[World] = []

    async def record(response: httpx.Response) -> None:
        ANSWERS.append((cases[0].case if cases else "setup", response.status_code))

    nc = await nats.connect(settings.nats_url, **settings.nats_auth)
    # The program's line, kept before any case reads a log (the socket case logs its own again).
    line = JobLogged(submission_id=str(scored.json()["id"]), team_id=str(team_id), line=HOST_LINE, host_only=True)
    await nc.publish(line.subject(), encode(line))
    async with asyncio.timeout(30):
        while not any(kept["line"] == HOST_LINE for kept in (await gateway.get(
                f"/api/v1/submissions/{scored.json()['id']}/logs", headers=host.headers)).json()["lines"]):
            await asyncio.sleep(0.1)
    try:
        async with httpx.AsyncClient(base_url=gateway_url, timeout=120, event_hooks={"response": [record]}) as client:
            cases.append(World(client, nc, gateway_url, admin_token, token, team_id, task["id"],
                               started.json()["upload_id"], scored.json()["id"]))
            yield cases[0]
    finally:
        await nc.drain()


@pytest.fixture(scope="module")
async def before(world: World) -> tuple[int, dict[str, Any]]:
    return await Host(world.http, world.admin).document()


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
async def test_hostile_program_input_gets_a_clear_refusal(world: World, before: tuple[int, dict[str, Any]],
                                                          case: Case) -> None:
    world.case = case.id
    case.expect.check(await case.send(world))


async def test_after_the_corpus_the_competition_is_unchanged(world: World, before: tuple[int, dict[str, Any]],
                                                            log_marks: dict[Path, int]) -> None:
    world.case = "after the corpus"
    server_errors = [(case, status) for case, status in ANSWERS if status >= 500]
    assert not server_errors, server_errors
    assert await Host(world.http, world.admin).document() == before
    assert (await world.http.get("/readiness")).status_code == 200
    errors = errors_logged_since(log_marks)
    assert not errors, "\n".join(errors)
