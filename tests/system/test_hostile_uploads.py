"""Hostile uploads against the running platform (the gateway as its own process, real SeaweedFS): presigned PUTs of
another size than announced, without a length, after `complete` or after `cancel`; direct uploads whose
Content-Length, or whose chunked body, goes past the task's limit. Each case says what it must end as, in the
manner of `test_hostile_input.py` (whose world, helpers and answer log it shares)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from litestar.testing import AsyncTestClient

from tests.api import team_token
from tests.system.hostile import multipart, raw_exchange, status_of
from tests.system.test_hostile_input import (
    ANSWERS,
    GOOD,
    Case,
    Holds,
    Outcome,
    Refused,
    Send,
    World,
    http,
    upload,
)

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
async def world(gateway: AsyncTestClient, gateway_url: str, admin_token: str) -> AsyncIterator[World]:
    """A new team, talking to the gateway process over real sockets; every answer logged in the corpus's log."""
    team_id, token = await team_token(gateway, admin_token)
    cases: list[World] = []

    async def record(response: httpx.Response) -> None:
        ANSWERS.append((cases[0].case if cases else "setup", response.status_code))

    async with httpx.AsyncClient(base_url=gateway_url, timeout=60, event_hooks={"response": [record]}) as client:
        kid = (await client.get("/api/v1/auth/jwks")).json()["keys"][0]["kid"]
        cases.append(World(gateway_url, client, token, team_id, admin_token, kid))
        yield cases[0]

LIMIT = 2_000_000  # the task `lab`'s max_upload_bytes


async def _ticket(world: World, data: bytes) -> dict:
    response = await world.http.post("/api/v1/submissions", headers=world.headers("team"), json={
        "task_id": "lab", "filename": "a.zip", "size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    assert response.status_code == 200, response.text
    return response.json()


async def _complete(world: World, ticket: dict) -> httpx.Response:
    return await world.http.post(f"/api/v1/submissions/{ticket['submission_id']}/complete", json={},
                                 headers=world.headers("team"))


def presigned_put(body_of: bytes | Callable[[], AsyncIterator[bytes]], announced: bytes = GOOD) -> Send:
    """Announce `announced`, PUT `body_of` (bytes, or a callable giving a chunked stream) to its URL, complete."""

    async def send(world: World) -> Outcome:
        ticket = await _ticket(world, announced)
        async with httpx.AsyncClient() as storage:
            content = body_of() if callable(body_of) else body_of
            stored = await storage.put(ticket["upload_url"], content=content)
        completed = await _complete(world, ticket)
        return Outcome(stored.status_code, completed.json().get("detail", ""),
                       {"complete": completed.status_code})

    return send


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), 1 << 16):
        yield data[offset:offset + (1 << 16)]


async def put_after_complete(world: World) -> Outcome:
    ticket = await _ticket(world, GOOD)
    async with httpx.AsyncClient() as storage:
        await storage.put(ticket["upload_url"], content=GOOD)
        await _complete(world, ticket)
        swapped = bytes(reversed(GOOD))  # same length: the signed size allows it
        again = await storage.put(ticket["upload_url"], content=swapped)
    scored = await upload_outcome(world, ticket["submission_id"])
    return Outcome(again.status_code, "", scored)


async def upload_outcome(world: World, submission_id: int) -> dict:
    async with asyncio.timeout(30):
        while (body := (await world.http.get(f"/api/v1/submissions/{submission_id}",
                                             headers=world.headers("team"))).json()
               )["status"] not in ("scored", "failed", "rejected", "cancelled", "expired"):
            await asyncio.sleep(0.1)
    return body


async def put_after_cancel(world: World) -> Outcome:
    ticket = await _ticket(world, GOOD)
    cancelled = await world.http.post(f"/api/v1/submissions/{ticket['submission_id']}/cancel",
                                      headers=world.headers("team"))
    assert cancelled.status_code == 200, cancelled.text
    async with httpx.AsyncClient() as storage:
        await storage.put(ticket["upload_url"], content=GOOD)
    completed = await _complete(world, ticket)
    return Outcome(completed.status_code, "", completed.json())


def direct_raw(content_length: int | None, body: bytes, task: str = "lab", chunked: bool = False) -> Send:
    """A direct multipart upload over a plain socket: its Content-Length (which may lie about a body never sent)
    or a chunked body."""

    async def send(world: World) -> Outcome:
        _, content_type = multipart(b"a.zip", b"")
        head = (f"POST /api/v1/tasks/{task}/submissions HTTP/1.1\r\nHost: podium\r\n"
                f"Authorization: Bearer {world.team}\r\nContent-Type: {content_type}\r\nConnection: close\r\n")
        if chunked:
            framed = b"".join(b"%x\r\n" % len(body[i:i + 65536]) + body[i:i + 65536] + b"\r\n"
                              for i in range(0, len(body), 65536)) + b"0\r\n\r\n"
            payload = (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + framed
        else:
            payload = (head + f"Content-Length: {content_length}\r\n\r\n").encode() + body
        before = len((await world.http.get("/api/v1/submissions", headers=world.headers("team"))).json())
        answer = await raw_exchange(world.url, payload, piece=65536, pause_s=0.001)
        ANSWERS.append((world.case, status_of(answer)))
        after = len((await world.http.get("/api/v1/submissions", headers=world.headers("team"))).json())
        return Outcome(status_of(answer), answer.decode("latin-1"), {"started": after - before})

    return send


OVERSIZED_FORM = multipart(b"a.zip", b"z" * (LIMIT + 200_000))[0]

CORPUS = [
    Case("presigned PUT of 5 MB against 10 announced bytes", presigned_put(b"x" * 5_000_000, b"x" * 10),
         Holds("storage refuses it (403); complete finds nothing", lambda o: o.status == 403
               and o.body["complete"] == 409)),
    Case("presigned PUT one byte longer than announced", presigned_put(GOOD + b"\0"),
         Holds("storage refuses it (403)", lambda o: o.status == 403 and o.body["complete"] == 409)),
    Case("presigned PUT one byte shorter than announced", presigned_put(GOOD[:-1]),
         Holds("storage refuses it (403)", lambda o: o.status == 403 and o.body["complete"] == 409)),
    Case("presigned PUT chunked (no Content-Length)", presigned_put(lambda: _chunks(GOOD)),
         Holds("storage refuses it (403)", lambda o: o.status == 403 and o.body["complete"] == 409)),
    Case("presigned PUT of other bytes after complete", put_after_complete,
         Holds("the checked bytes are scored, not the later ones", lambda o: o.body["status"] == "scored"
               and o.body["public_score"] == 100.0 and o.body["sha256"] == hashlib.sha256(GOOD).hexdigest())),
    Case("presigned PUT after cancel, then complete", put_after_cancel,
         Holds("nothing is accepted: it stays cancelled", lambda o: o.status == 200
               and o.body["status"] == "cancelled")),
    Case("direct upload announcing 1 GiB, body never sent", direct_raw(1 << 30, b""),
         Holds("413 at once, nothing started", lambda o: o.status == 413
               and "size must be 1 to 2000000 bytes for task lab" in o.detail and o.body["started"] == 0)),
    Case("direct upload with a Content-Length over the task's limit", direct_raw(len(OVERSIZED_FORM), OVERSIZED_FORM),
         Holds("413, nothing started", lambda o: o.status == 413 and o.body["started"] == 0)),
    Case("direct upload, chunked, growing past the task's limit", direct_raw(None, OVERSIZED_FORM, chunked=True),
         Holds("413 once past the limit, nothing started", lambda o: o.status == 413
               and "over this upload's limit" in o.detail and o.body["started"] == 0)),
    Case("direct upload announcing 1 GiB to an unknown task", direct_raw(1 << 30, b"", task="nope"),
         Refused(404, "no task 'nope'")),
    Case("direct upload within the limit still scores", upload(GOOD),
         Holds("scored", lambda o: o.status == 200 and o.body["status"] == "scored")),
    Case("presigned start over the limit", http("POST", "/api/v1/submissions", json={
        "task_id": "lab", "filename": "a.zip", "size_bytes": LIMIT + 1}),
         Refused(413, "size must be 1 to 2000000 bytes for task lab")),
]


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
async def test_hostile_upload_is_held_to_what_was_announced(world: World, case: Case) -> None:
    world.case = case.id
    case.expect.check(await case.send(world))


async def test_no_hostile_upload_got_a_server_error(world: World) -> None:
    ids = {case.id for case in CORPUS}
    server_errors = [(case, status) for case, status in ANSWERS if case in ids and status >= 500]
    assert not server_errors, server_errors
