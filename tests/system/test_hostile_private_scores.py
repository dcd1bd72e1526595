"""A team hunting for private values before the reveal, through every surface it has on the running platform — the
gateway as its own uvicorn process over real sockets, every service as a process, real NATS, PostgreSQL and S3: the
upload reply (`?wait=`, every route, MLS-GOAT's without it), completing again, one submission, every history list, the
details, the log, a cancel, the boards (current, `?at=`, MLS-GOAT's, CSV), MLS-GOAT's model upload and its anonymous
status route, its leaderboard settings, every WebSocket push about its submissions and boards, every push to an
anonymous board socket (`/ws/boards`, and a projector's `/ws/boards?private=false`), the competition's own pushes (a
new version in use, a phase opening and closing) to each of those sockets, the participants' task list, and the
pushes' JSON Schema.

The team scores a result archive and a model; an admin reads the private values (the private score, each private
metric, each private sample's PSNR). Each case then checks what the team (or an anonymous caller) received: no key
that names the private split carries a value, and no private number appears anywhere in the answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from litestar.testing import AsyncTestClient
from websockets.typing import Subprotocol

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from proto.competition import Competition, parse_competition
from tests.api import bearer, edit_competition, live_socket, new_task_fields, remove_tasks, team_token
from tests.conftest import TEST_COMPETITION, task_of
from tests.onnx_models import baseline_weights, linear_model, to_bytes

pytestmark = pytest.mark.system

LAB = task_of(parse_competition(TEST_COMPETITION), "lab")  # cpu, quota 100, 12 samples, half of them private
ARCHIVE = npy_zip(noisy_submission(make_ground_truth(LAB), 0.1, seed=23))
MODEL = to_bytes(linear_model(*baseline_weights()))
PRIVATE_KEY = re.compile(r"private", re.IGNORECASE)
# What a key naming the private split may hold before the reveal: nothing, or "this is not private/revealed".
EMPTY = (None, False, [], {})


@dataclass
class Scored:
    """The team's two scored submissions, what an admin sees of them, and what the team's socket received."""

    url: str
    http: httpx.AsyncClient
    team: str
    team_id: int
    admin: str
    cpu: dict  # the upload reply the team got (?wait=)
    gpu: dict
    forbidden: set[float] = field(default_factory=set)  # every private number, as an admin reads it
    pushes: list[dict] = field(default_factory=list)
    anonymous_pushes: dict[str, list[dict]] = field(default_factory=dict)  # per anonymous socket path


def private_values(view: dict, details: dict) -> set[float]:
    """The private numbers of one submission (its private score, private metrics and private samples' values)
    that differ from every public number of it (an equal public value is no secret)."""
    private = {view["private_score"], *(v for k, v in view["metrics"].items() if PRIVATE_KEY.search(k))}
    private |= {s["psnr"] for s in details.get("samples", []) if s["private"]}
    public = {view["public_score"], *(v for k, v in view["metrics"].items() if not PRIVATE_KEY.search(k))}
    public |= {s["psnr"] for s in details.get("samples", []) if not s["private"]}
    return {v for v in private - public if isinstance(v, float)}


def assert_nothing_private(answer: Any, text: str, forbidden: set[float]) -> None:
    """No key naming the private split holds a value anywhere in `answer`; no private number is in `text`."""

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if PRIVATE_KEY.search(str(key)):
                    assert value in EMPTY, f"{where}.{key} = {value!r}"
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")
        elif isinstance(node, str) and node[:1] in "{[":
            try:
                walk(json.loads(node), f"{where}(json)")  # MLS-GOAT's `details` is a JSON string
            except ValueError:
                pass

    walk(answer, "$")
    for value in forbidden:
        for shown in {repr(value), json.dumps(value), f"{value:.4f}"}:
            assert not re.search(rf"(?<![\d.]){re.escape(shown)}(?!\d)", text), f"private value {shown} in {text!r}"


# --- the surfaces ---------------------------------------------------------------------------------------------------

Ask = Callable[[Scored], Awaitable[tuple[Any, str]]]


def http(method: str, path: str, who: str = "team", **options: Any) -> Ask:
    """`path` may name {cpu} and {gpu}: the ids of the team's submissions."""

    async def ask(scored: Scored) -> tuple[Any, str]:
        headers = {"team": bearer(scored.team), "nobody": {}}[who]
        response = await scored.http.request(method, path.format(cpu=scored.cpu["id"], gpu=scored.gpu["id"]),
                                             headers=headers, **options)
        assert response.status_code < 500, response.text
        try:
            return response.json(), response.text
        except ValueError:  # the CSV export: not even a private column
            assert not PRIVATE_KEY.search(response.text), response.text
            return None, response.text

    return ask


def reply(which: str) -> Ask:
    async def ask(scored: Scored) -> tuple[Any, str]:
        answer = getattr(scored, which)
        return answer, json.dumps(answer)

    return ask


async def pushes(scored: Scored) -> tuple[Any, str]:
    return scored.pushes, json.dumps(scored.pushes)


def anonymous_pushes(path: str) -> Ask:
    async def ask(scored: Scored) -> tuple[Any, str]:
        received = scored.anonymous_pushes[path]
        return received, json.dumps(received)

    return ask


def upload_again(path: str, data: bytes, filename: str) -> Ask:
    """Another upload that waits for its score, on another of the upload routes."""
    return http("POST", path, files={"file": (filename, data, "application/octet-stream")})


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def goat_model_status(scored: Scored) -> tuple[Any, str]:
    """MLS-GOAT's `submit.py` sends a model to `/api/submit/task2` (the token in the form, no header), then polls the
    anonymous status route until the model is scored: the queued reply and every status answer it read."""
    queued = await scored.http.post("/api/submit/task2", files={"file": ("m.onnx", MODEL, "application/octet-stream")},
                                    data={"team_token": scored.team, "batch_size": "8"})
    assert queued.status_code == 202, queued.text
    answers = [queued.json()]
    async with asyncio.timeout(60):
        while answers[-1].get("status") not in ("completed", "failed"):
            status = await scored.http.get(f"/api/submit/task2/status/{queued.json()['submission_id']}")
            assert status.status_code == 200, status.text
            answers.append(status.json())
            await asyncio.sleep(0.1)
    assert answers[-1]["status"] == "completed", answers[-1]
    return answers, json.dumps(answers)


async def live_schema(scored: Scored) -> tuple[Any, str]:
    """The sockets' JSON Schema names fields (`private`, `private_changed`) and holds no value: its text is searched."""
    _, text = await http("GET", "/api/v1/live/schema.json", "nobody")(scored)
    assert '"board_delta"' in text, text
    return None, text


async def competition_pushes(scored: Scored) -> tuple[Any, str]:
    """The `competition` and `phase` pushes every socket received (the fixture made a version and a phase happen)."""
    received = [m for m in [*scored.pushes, *(p for ps in scored.anonymous_pushes.values() for p in ps)]
                if m.get("type") in ("competition", "phase")]
    assert {m["type"] for m in received} == {"competition", "phase"}, received
    return received, json.dumps(received)


async def board_at_now(scored: Scored) -> tuple[Any, str]:
    return await http("GET", f"/api/v1/leaderboards/lab?at={now()}")(scored)


async def board_at_now_anonymous(scored: Scored) -> tuple[Any, str]:
    return await http("GET", f"/api/v1/leaderboards/digits?at={now()}", "nobody")(scored)


SURFACES: dict[str, Ask] = {
    "upload reply (?wait=, /api/v1/tasks/lab/submissions)": reply("cpu"),
    "upload reply of a model (?wait=)": reply("gpu"),
    "upload reply (?wait=, /submit/task)": upload_again("/submit/lab?wait=60", ARCHIVE, "again.zip"),
    "upload reply (?wait=, /submissions/task)": upload_again("/submissions/digits?wait=60", MODEL, "again.onnx"),
    "completing the scored upload again": http("POST", "/api/v1/submissions/{cpu}/complete", json={}),
    "one submission": http("GET", "/api/v1/submissions/{cpu}"),
    "one model submission": http("GET", "/api/v1/submissions/{gpu}"),
    "one submission (MLS-GOAT's route)": http("GET", "/submissions/{cpu}"),
    "history": http("GET", "/api/v1/submissions"),
    "history of one task": http("GET", "/api/v1/submissions?task_id=digits"),
    "history (/submissions)": http("GET", "/submissions"),
    "history (/teams/me/submissions)": http("GET", "/teams/me/submissions"),
    "history of one task (MLS-GOAT's route)": http("GET", "/teams/me/submissions/lab"),
    "details (per sample)": http("GET", "/api/v1/submissions/{cpu}/details"),
    "details of a model": http("GET", "/api/v1/submissions/{gpu}/details"),
    "the scorer's log": http("GET", "/api/v1/submissions/{cpu}/logs"),
    "the task's quota": http("GET", "/api/v1/tasks/lab/quota"),
    "cancelling a scored submission": http("POST", "/api/v1/submissions/{cpu}/cancel"),
    "board": http("GET", "/api/v1/leaderboards/lab"),
    "board, anonymous": http("GET", "/api/v1/leaderboards/digits", "nobody"),
    "board ?at= now": board_at_now,
    "board ?at= now, anonymous": board_at_now_anonymous,
    "board ?at= long ago": http("GET", "/api/v1/leaderboards/lab?at=2000-01-01T00:00:00Z"),
    "MLS-GOAT's board": http("GET", "/leaderboard/lab"),
    "MLS-GOAT's board, anonymous": http("GET", "/leaderboard/task2", "nobody"),
    "CSV export": http("GET", "/api/v1/leaderboards/lab/export.csv"),
    "CSV export, anonymous": http("GET", "/api/v1/leaderboards/digits/export.csv", "nobody"),
    "MLS-GOAT's upload without ?wait (/api/submit/task)": upload_again("/api/submit/lab", ARCHIVE, "goat.zip"),
    "MLS-GOAT's model upload and its anonymous status, polled": goat_model_status,
    "history of one task by number (MLS-GOAT's frontend)": http("GET", "/api/teams/me/submissions/2"),
    "MLS-GOAT's board under /api, anonymous": http("GET", "/api/leaderboard/task2", "nobody"),
    "MLS-GOAT's leaderboard settings, anonymous": http("GET", "/api/leaderboard/settings", "nobody"),
    "every WebSocket push (status, progress, queue, log, boards)": pushes,
    "every push to an anonymous board socket (/ws/boards)": anonymous_pushes("/ws/boards"),
    "every push to a projector's socket (/ws/boards?private=false)": anonymous_pushes("/ws/boards?private=false"),
    "the sockets' message schema (/api/v1/live/schema.json), anonymous": live_schema,
    "the competition's pushes (a new version, a phase opened and closed) to every socket": competition_pushes,
    "the participants' task list (/api/v1/competition)": http("GET", "/api/v1/competition"),
    "the participants' task list, anonymous": http("GET", "/api/v1/competition", "nobody"),
}
ANONYMOUS_SOCKETS = ("/ws/boards", "/ws/boards?private=false")


# --- the fixture: two scored submissions, watched live --------------------------------------------------------------


async def _board_has(client: httpx.AsyncClient, task: str, team_id: int, admin: str) -> None:
    """Wait until `task`'s board (an admin's view, private side included) shows the team on both sides."""
    async with asyncio.timeout(30):
        while True:
            board = (await client.get(f"/api/v1/leaderboards/{task}", headers=bearer(admin))).json()
            if all(str(team_id) in {e["team_id"] for e in board[side] or []} for side in ("public", "private")):
                return
            await asyncio.sleep(0.1)


def _boards_pushed(messages: list[dict], team_id: int) -> bool:
    """A board of each task with the team on it was pushed."""
    boards = {m["task_id"] for m in messages if m.get("type") in ("board", "board_delta")
              and str(team_id) in {e["team_id"] for e in m.get("public", []) + m.get("changed", [])}}
    return {"lab", "digits"} <= boards


def _heard_of(messages: list[dict], task_id: str) -> bool:
    """The version that added `task_id` and its phase's closing were pushed."""
    return (any(m.get("type") == "competition" and task_id in m["tasks"] for m in messages)
            and any(m.get("type") == "phase" and m["task_id"] == task_id and m["state"] == "closed" for m in messages))


async def _version_and_phase(client: httpx.AsyncClient, admin: str) -> str:
    """A new version in use (a task of this corpus's own), whose phase opens and closes a moment later."""
    now = datetime.now(UTC)
    task = new_task_fields(phases=[{"id": "flash", "opens_at": (now + timedelta(seconds=1)).isoformat(),
                                    "closes_at": (now + timedelta(seconds=2)).isoformat()}])
    await edit_competition(client, admin, lambda competition: competition["tasks"].append(task))
    return task["id"]


def _pushed_all(messages: list[dict], ids: set[int], team_id: int) -> bool:
    """The scored status of each submission, and a board of each task with the team on it, were pushed."""
    scored = {m["submission_id"] for m in messages if m.get("type") == "submission" and m["status"] == "scored"}
    return ids <= scored and _boards_pushed(messages, team_id)


@pytest.fixture(scope="module")
async def scored(gateway: AsyncTestClient, gateway_url: str, admin_token: str, competition: tuple[Path, Competition]
                 ) -> AsyncIterator[Scored]:
    assert task_of(competition, "lab") == LAB
    team_id, token = await team_token(gateway, admin_token)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=90) as client:
        for task in ("lab", "digits"):  # the tests reveal no board of these tasks; a failed run may have left one
            board = (await client.get(f"/api/v1/leaderboards/{task}")).json()
            assert board["private_revealed"] is False, f"{task}'s private board is revealed: nothing to hide"
        ws_url = gateway_url.replace("http://", "ws://")
        async with live_socket(gateway_url, token) as socket, contextlib.AsyncExitStack() as anonymous:
            sockets = {path: await anonymous.enter_async_context(websockets.connect(ws_url + path,
                                                                                     subprotocols=[Subprotocol("podium")]))
                       for path in ANONYMOUS_SOCKETS}
            received: list[dict] = []
            anonymously: dict[str, list[dict]] = {path: [] for path in ANONYMOUS_SOCKETS}

            async def listen(socket: Any, into: list[dict]) -> None:
                async for frame in socket:
                    into.append(json.loads(frame))

            for each in (socket, *sockets.values()):
                await each.send(json.dumps({"follow": ["lab", "digits"]}))
            listening = asyncio.create_task(listen(socket, received))
            listeners = [asyncio.create_task(listen(sockets[path], anonymously[path])) for path in ANONYMOUS_SOCKETS]
            cpu = (await client.post("/api/v1/tasks/lab/submissions?wait=60", headers=bearer(token),
                                     files={"file": ("s.zip", ARCHIVE, "application/zip")})).json()
            gpu = (await client.post("/api/v1/tasks/digits/submissions?wait=60", headers=bearer(token),
                                     files={"file": ("m.onnx", MODEL, "application/octet-stream")})).json()
            assert (cpu["status"], gpu["status"]) == ("scored", "scored"), (cpu, gpu)
            async with asyncio.timeout(30):
                while not (_pushed_all(received, {cpu["id"], gpu["id"]}, team_id)
                           and all(_boards_pushed(anonymously[path], team_id) for path in ANONYMOUS_SOCKETS)):
                    assert not any(task.done() for task in (listening, *listeners)), (received, anonymously)
                    await asyncio.sleep(0.05)
            # The competition's own pushes reach every socket too: a new version, a phase opening and closing.
            added = await _version_and_phase(client, admin_token)
            try:
                async with asyncio.timeout(30):
                    while not all(_heard_of(messages, added) for messages in (received, *anonymously.values())):
                        assert not any(task.done() for task in (listening, *listeners)), (received, anonymously)
                        await asyncio.sleep(0.05)
            finally:
                await remove_tasks(client, admin_token, [added])
            for task in (listening, *listeners):
                task.cancel()
        world = Scored(gateway_url, client, token, team_id, admin_token, cpu, gpu, pushes=received,
                       anonymous_pushes=anonymously)
        for view in (cpu, gpu):
            seen = (await client.get(f"/api/v1/submissions/{view['id']}", headers=bearer(admin_token))).json()
            details = (await client.get(f"/api/v1/submissions/{view['id']}/details",
                                        headers=bearer(admin_token))).json()["details"]
            assert seen["private_score"] is not None and any(PRIVATE_KEY.search(k) for k in seen["metrics"]), seen
            world.forbidden |= private_values(seen, details)
        assert world.forbidden, "no private value differs from the public ones: the corpus would prove nothing"
        for task in ("lab", "digits"):
            await _board_has(client, task, team_id, admin_token)
        yield world


@pytest.mark.parametrize("surface", list(SURFACES))
async def test_no_private_value_reaches_a_team_before_the_reveal(scored: Scored, surface: str) -> None:
    answer, text = await SURFACES[surface](scored)
    assert_nothing_private(answer, text, scored.forbidden)


async def test_an_admin_sees_every_private_value(scored: Scored) -> None:
    """The same surfaces carry the private values to an admin: the corpus looks for what is really there."""
    texts = [(await scored.http.get(path.format(cpu=scored.cpu["id"]), headers=bearer(scored.admin))).text
             for path in ("/api/v1/submissions/{cpu}", "/api/v1/submissions/{cpu}/details", "/api/v1/leaderboards/lab",
                          "/api/v1/leaderboards/lab/export.csv")]
    view, details = json.loads(texts[0]), json.loads(texts[1])["details"]
    lab_private = private_values(view, details)
    assert lab_private and lab_private <= scored.forbidden
    for value in lab_private:
        assert any(re.search(rf"(?<![\d.]){re.escape(repr(value))}(?!\d)", text) for text in texts), value
