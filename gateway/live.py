"""Live pushes over one WebSocket: board changes for the tasks a client follows, and — to the owning team
only — its submissions' status and progress and the answers to its questions.

A client that follows a task first gets the whole board, then only what changed (`board_delta`: the entries
that differ and the teams that left), encoded once per change for everyone who may see the same thing. One
NATS subscription per kind of event serves every client. Each client has its own small queue and one slot per
followed board: if a change arrives while the previous one is still unsent, the slot gets the whole latest
board instead (so nothing is lost and a slow client only ever falls behind on itself); when its queue is full
the oldest message is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.datastructures import State
from litestar.exceptions import WebSocketDisconnect
from nats.aio.client import Client as NatsClient

from gateway.problems import MALFORMED_JSON, malformed_json
from gateway.tokens import InvalidToken
from podium_runtime.metrics import WEBSOCKET_CLIENTS
from proto import codec
from proto.events import JobLogged, QuestionChanged, ScoreProgress
from proto.leaderboard import Board, Entry
from proto.rpc import Principal
from proto.submissions import QueuePositionChanged, SubmissionStatusChanged

log = logging.getLogger(__name__)
QUEUE_LIMIT = 256
_encoder = msgspec.json.Encoder()
_status = msgspec.json.Decoder(SubmissionStatusChanged)
_queue = msgspec.json.Decoder(QueuePositionChanged)


class Follow(msgspec.Struct, frozen=True):
    follow: list[str] = []
    unfollow: list[str] = []


@dataclass(eq=False)
class LiveClient:
    principal: Principal
    following: set[str] = field(default_factory=set)
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    boards: dict[str, bytes] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0

    def push(self, payload: bytes) -> None:
        if self.queue.full():
            self.queue.get_nowait()  # drop the oldest: this client is not keeping up
            self.dropped += 1
        self.queue.put_nowait(payload)
        self.wake.set()

    def push_board(self, task_id: str, delta: bytes, snapshot: Callable[[], bytes]) -> None:
        # An unsent older message for this board: send the whole latest board instead of a second delta.
        self.boards[task_id] = snapshot() if task_id in self.boards else delta
        self.wake.set()

    async def next_messages(self) -> list[bytes]:
        await self.wake.wait()
        self.wake.clear()
        messages = list(self.boards.values())
        self.boards.clear()
        while not self.queue.empty():
            messages.append(self.queue.get_nowait())
        return messages


def sees_private(board: Board, viewer: Principal) -> bool:
    return board.private_revealed or viewer.is_admin


def board_message(task_id: str, revision: int, board: Board, with_private: bool) -> bytes:
    return _encoder.encode({"type": "board", "task_id": task_id, "revision": revision, "sort": board.sort,
                            "private_revealed": board.private_revealed, "public": board.public,
                            "private": board.private if with_private else None})


def _changes(old: list[Entry], new: list[Entry]) -> tuple[list[Entry], list[str]]:
    before = {e.team_id: e for e in old}
    present = {e.team_id for e in new}
    return [e for e in new if before.get(e.team_id) != e], [team for team in before if team not in present]


def delta_message(task_id: str, revision: int, previous: Board, board: Board, with_private: bool) -> bytes:
    changed, removed = _changes(previous.public, board.public)
    message: dict[str, Any] = {"type": "board_delta", "task_id": task_id, "revision": revision,
                               "private_revealed": board.private_revealed, "changed": changed, "removed": removed}
    if with_private:
        message["private_changed"], message["private_removed"] = _changes(previous.private, board.private)
    return _encoder.encode(message)


class _Variants:
    """Each message of one board change, encoded at most once per audience (public only / with private)."""

    def __init__(self, task_id: str, revision: int, board: Board, previous: Board | None) -> None:
        self.args = (task_id, revision, board, previous)
        self.cache: dict[tuple[str, bool], bytes] = {}

    def get(self, kind: str, with_private: bool) -> bytes:
        key = (kind, with_private)
        if key not in self.cache:
            task_id, revision, board, previous = self.args
            self.cache[key] = (
                delta_message(task_id, revision, previous, board, with_private)
                if kind == "delta" and previous is not None
                else board_message(task_id, revision, board, with_private)
            )
        return self.cache[key]


class LiveHub:
    def __init__(self) -> None:
        self.clients: set[LiveClient] = set()
        self._subscriptions: list[Any] = []

    def _for_team(self, team_id: str, payload: bytes) -> None:
        for client in self.clients:
            if client.principal.account_id == team_id:
                client.push(payload)

    def on_board(self, task_id: str, revision: int, board: Board, previous: Board | None) -> None:
        variants = _Variants(task_id, revision, board, previous)
        for client in self.clients:
            if task_id in client.following:
                private = sees_private(board, client.principal) or (
                    previous is not None and sees_private(previous, client.principal))
                client.push_board(task_id, variants.get("delta", private),
                                  lambda private=private: variants.get("board", private))

    async def start(self, nc: NatsClient) -> None:
        async def on_status(message: Any) -> None:
            event = _status.decode(message.data)
            self._for_team(str(event.team_id), _encoder.encode(
                {"type": "submission", "submission_id": event.submission_id, "status": event.status}))

        async def on_progress(message: Any) -> None:
            event = codec.decode(message.data)
            if isinstance(event, ScoreProgress):
                self._for_team(event.team_id, _encoder.encode(
                    {"type": "progress", "submission_id": int(event.submission_id), "done": event.done,
                     "total": event.total}))

        async def on_log(message: Any) -> None:
            event = codec.decode(message.data)
            if isinstance(event, JobLogged):
                self._for_team(event.team_id, _encoder.encode(
                    {"type": "log", "submission_id": int(event.submission_id), "level": event.level,
                     "line": event.line, "at": event.occurred_at}))

        async def on_queue(message: Any) -> None:
            event = _queue.decode(message.data)
            self._for_team(str(event.team_id), _encoder.encode(
                {"type": "queue", "submission_id": event.submission_id, "queue_position": event.queue_position,
                 "eta_s": event.eta_s}))

        async def on_question(message: Any) -> None:
            event = codec.decode(message.data)
            if not isinstance(event, QuestionChanged):
                return
            payload = _encoder.encode({"type": "question", "question_id": event.question_id, "change": event.change})
            for client in self.clients:
                if event.visible_to_all or client.principal.is_admin or \
                        client.principal.account_id == str(event.team_id):
                    client.push(payload)

        for subject, handler in (("live.submission.>", on_status), ("job.progress.>", on_progress),
                                 ("live.queue.>", on_queue), ("job.log.>", on_log), ("qa.question.>", on_question)):
            self._subscriptions.append(await nc.subscribe(subject, cb=_guarded(handler)))

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()


def _guarded(handler):  # noqa: ANN001, ANN202 — a malformed message must not end the subscription
    async def guarded(message: Any) -> None:
        try:
            await handler(message)
        except msgspec.DecodeError as exc:
            log.warning("ignored a malformed live message", extra={"subject": message.subject, "error": str(exc)})

    return guarded


async def _principal(socket: WebSocket, state: State) -> Principal | None:
    user = socket.scope.get("user")
    if user is not None:
        return user
    token = socket.query_params.get("token")  # browsers cannot set headers on a WebSocket
    if not token:
        return None
    try:
        return await state.identity.verify(token)
    except InvalidToken:
        return None


@websocket("/ws")
async def live_socket(socket: WebSocket, state: State) -> None:
    """Send `{"follow": ["task"]}` to receive that task's board on every change; a team also receives its
    submissions' status and progress and its questions' answers. Authenticate with `?token=` or a bearer header."""
    await socket.accept()
    principal = await _principal(socket, state)
    if principal is None:
        await socket.close(code=4401, reason="a valid token is required (?token=...)")
        return
    hub: LiveHub = state.live
    client = LiveClient(principal)
    hub.clients.add(client)
    WEBSOCKET_CLIENTS.inc()
    sender = asyncio.create_task(_send(socket, client))
    try:
        while True:
            try:
                request = msgspec.json.decode(await socket.receive_text(), type=Follow)
            except MALFORMED_JSON as exc:
                client.push(_encoder.encode({"type": "error",
                                             "detail": f"send {{\"follow\": [task ids]}}: {malformed_json(exc)}"}))
                continue
            client.following |= set(request.follow)
            client.following -= set(request.unfollow)
            for task_id in request.follow:  # the whole current board at once, then what changes
                found = state.boards.get(task_id)
                if found is not None:
                    whole = board_message(task_id, found[0], found[1], sees_private(found[1], principal))
                    client.boards[task_id] = whole
                    client.wake.set()
    except WebSocketDisconnect:
        pass
    finally:
        hub.clients.discard(client)
        WEBSOCKET_CLIENTS.dec()
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender


async def _send(socket: WebSocket, client: LiveClient) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            for payload in await client.next_messages():
                await socket.send_text(payload.decode())
