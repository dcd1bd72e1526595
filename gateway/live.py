"""Live pushes over one WebSocket: board changes for the tasks a client follows, and — to the owning team
only — its submissions' status and progress and the answers to its questions.

A client that follows a task first gets the whole board, then only what changed since the revision it was last
sent (`board_delta`: the entries that changed, `[team, rank, rank_change]` of those that only moved, the teams
that left). The hub keeps each task's recent revisions, and each message (from a revision to the latest, with or
without the private board) is encoded once for every client that needs it: clients that keep up share one small
delta, a client that fell behind gets one delta for all it missed, and only one that just followed (or fell
further behind than the kept revisions) gets the whole board. Messages are made per audience — the public board,
with the private board, an admin's (with the hidden columns) — and a delta is computed between two views of the
client's own audience: a change that audience cannot see (a hidden column's value, the private board of a viewer of
the public one) sends it nothing at all. A busy board's changes are pushed together, at
most once per `PUSH_INTERVAL_S`. One NATS subscription per kind of event serves every client; team messages go
through an index of clients by team, into each client's small queue: when it is full the oldest message is
dropped, so a slow client only ever falls behind on itself.

Every socket, whatever it follows, hears of the competition itself (`gateway.competition_pushes`): a new version in
use and a phase opening or closing.

`/ws/boards` is the same feed for anyone, signed in or not (a board on a projector, a visitor): boards only, never a
team's messages or questions, and the private board only once it is revealed — or never, with `?private=false`,
whatever the board's state (a projector shows the public board even to an admin).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import jwt
import msgspec
from litestar import WebSocket, get, websocket
from litestar.exceptions import WebSocketDisconnect
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from gateway.board_views import for_viewer
from gateway.identity import Identity
from gateway.problems import JSON_ERRORS, Problem, json_problem
from gateway.routes_leaderboard import task_id_of
from gateway.state import GatewayState
from gateway.tokens import InvalidToken
from podium_runtime.metrics import WEBSOCKET_CLIENTS
from proto import codec
from proto.events import JobLogged, QuestionChanged, ScoreProgress
from proto.leaderboard import Board, Entry
from proto.live import (
    BoardDeltaMessage,
    BoardMessage,
    ErrorMessage,
    Follow,
    LiveMessage,
    LogMessage,
    Moved,
    ProgressMessage,
    QuestionMessage,
    QueueMessage,
    SubmissionMessage,
    live_schema,
)
from proto.rpc import Principal
from proto.submissions import QueueMoved, SubmissionStatusChanged

log = logging.getLogger(__name__)
QUEUE_LIMIT = 256
_encoder = msgspec.json.Encoder()
_status = msgspec.json.Decoder(SubmissionStatusChanged)
_queue = msgspec.json.Decoder(QueueMoved)


# Tasks one socket may follow per message beyond the competition's own count (the page follows every task, and a
# competition may have more than this); the frame itself is capped by the server (podium_runtime.main:
# WS_MAX_FRAME_BYTES).
MAX_FOLLOWED = 32
PODIUM_PROTOCOL = "podium"
BEARER_PROTOCOL_PREFIX = "bearer."
KEPT_REVISIONS = 64  # per task: a client that fell further behind than this gets the whole board
# At most one board message per task and client in this time: a busy board's changes travel together (a
# person cannot read faster), which bounds the gateway's work by the number of viewers, not of changes.
PUSH_INTERVAL_S = 0.2


@dataclass(eq=False)
class LiveClient:
    principal: Principal | None  # None: an anonymous board viewer (`/ws/boards`)
    private: bool = True  # False: never the private board, revealed or not (a projector)
    following: set[str] = field(default_factory=set)
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    sent: dict[str, int] = field(default_factory=dict)  # per followed board: the revision this client has
    due: set[str] = field(default_factory=set)  # followed boards with a revision not yet sent
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0

    def send(self, message: LiveMessage) -> None:
        self.push(_encoder.encode(message))

    def push(self, payload: bytes) -> None:
        if self.queue.full():
            self.queue.get_nowait()  # drop the oldest: this client is not keeping up
            self.dropped += 1
        self.queue.put_nowait(payload)
        self.wake.set()

    def board_changed(self, task_id: str) -> None:
        self.due.add(task_id)
        self.wake.set()

    async def next_messages(self, feed: BoardFeed) -> list[bytes]:
        """What to send now: for each board that changed, one message from the revision this client has to the
        latest; then the team messages queued since."""
        await self.wake.wait()
        self.wake.clear()
        messages = []
        for task_id in self.due:
            # None: nothing this client may see changed (it keeps the revision it has, the base of its next delta).
            update = feed.update(task_id, self.sent.get(task_id), self.principal, self.private)
            if update is not None:
                self.sent[task_id], message = update
                messages.append(message)
        self.due.clear()
        while not self.queue.empty():
            messages.append(self.queue.get_nowait())
        return messages


def sees_private(board: Board, viewer: Principal | None, private: bool = True) -> bool:
    """Whether `viewer` (None: anonymous) gets the private board; `private=False` says never."""
    return private and (board.private_revealed or (viewer is not None and viewer.is_admin))


def board_message(task_id: str, revision: int, board: Board, with_private: bool) -> bytes:
    """`board` whole, as its viewer may see it (`gateway.board_views.for_viewer` applied by the caller)."""
    return _encoder.encode(BoardMessage(
        task_id=task_id, revision=revision, sort=board.sort, private_revealed=board.private_revealed,
        public=board.public, private=board.private if with_private else None, columns=board.columns))


def _changes(old: list[Entry], new: list[Entry]) -> tuple[list[Entry], list[Moved], list[str]]:
    """(entries new or changed beyond their place, [team, rank, rank_change] of those that only moved, teams that
    left): one better score shifts every team below it, and those lines travel as three values, not whole."""
    before = {e.team_id: e for e in old}
    changed: list[Entry] = []
    moved: list[Moved] = []
    for entry in new:
        was = before.get(entry.team_id)
        if was == entry:
            continue
        if was is not None and msgspec.structs.replace(was, rank=entry.rank, rank_change=entry.rank_change) == entry:
            moved.append((entry.team_id, entry.rank, entry.rank_change))
        else:
            changed.append(entry)
    present = {e.team_id for e in new}
    return changed, moved, [team for team in before if team not in present]


def delta_message(task_id: str, revision: int, previous: Board, board: Board, with_private: bool,
                  base_revision: int | None = None) -> bytes | None:
    """What changed from `previous` to `board` (two views of one audience); None when nothing did."""
    changed, moved, removed = _changes(previous.public, board.public)
    # None: left out of the message (a viewer of the public board only never sees these fields).
    private_changed, private_moved, private_removed = (_changes(previous.private, board.private) if with_private
                                                       else (None, None, None))
    if (previous.private_revealed == board.private_revealed and not (changed or moved or removed)
            and not (private_changed or private_moved or private_removed)):
        return None
    return _encoder.encode(BoardDeltaMessage(
        task_id=task_id, revision=revision, base_revision=base_revision, private_revealed=board.private_revealed,
        changed=changed, moved=moved, removed=removed, private_changed=private_changed, private_moved=private_moved,
        private_removed=private_removed))


class BoardFeed:
    """Each task's last `kept` revisions, and the messages that bring a client from one of them (or from
    nothing) to the latest, each encoded once per audience (public only / with the private board / an admin's)."""

    def __init__(self, kept: int = KEPT_REVISIONS) -> None:
        self.kept = kept
        self.revisions: dict[str, dict[int, Board]] = {}  # in arrival order, which is revision order
        # To each task's latest revision, by (base revision or None, with the private board, an admin's view); None:
        # nothing that audience sees changed since the base.
        self.messages: dict[str, dict[tuple[int | None, bool, bool], bytes | None]] = {}

    def add(self, task_id: str, revision: int, board: Board) -> bool:
        """Keep a new revision; True when it starts a new history (the bucket was created again): the kept
        revisions are forgotten, and the clients' revisions mean nothing any more."""
        kept = self.revisions.setdefault(task_id, {})
        restarted = bool(kept) and revision <= next(reversed(kept))
        if restarted:
            kept.clear()
        kept[revision] = board
        while len(kept) > self.kept:
            del kept[next(iter(kept))]
        self.messages[task_id] = {}
        return restarted

    def update(self, task_id: str, since: int | None, viewer: Principal | None, private: bool = True
               ) -> tuple[int, bytes] | None:
        """(latest revision, message) for a client that has revision `since` (None: nothing yet); None when
        it is current, there is no board, or nothing it may see changed since `since`."""
        kept = self.revisions.get(task_id)
        if not kept:
            return None
        revision = next(reversed(kept))
        if since == revision:
            return None
        admin = viewer is not None and viewer.is_admin
        board, base = kept[revision], kept.get(since) if since is not None else None
        with_private = sees_private(board, viewer, private)
        if base is not None and sees_private(base, viewer, private) != with_private:
            # Revealed or hidden since: the whole board ("private": null once hidden), never a delta that would
            # carry private changes past an un-reveal or only part of the private board after a reveal.
            base = None
        key = (since if base is not None else None, with_private, admin)
        cache = self.messages[task_id]
        if key not in cache:
            view = for_viewer(board, admin)
            base_view = for_viewer(base, admin) if base is not None else None
            if base_view is None or (base_view.columns, base_view.sort) != (view.columns, view.sort):
                cache[key] = board_message(task_id, revision, view, with_private)  # new columns: the whole board
            else:
                cache[key] = delta_message(task_id, revision, base_view, view, with_private, base_revision=since)
        message = cache[key]
        return None if message is None else (revision, message)


class LiveHub:
    def __init__(self, push_interval_s: float = PUSH_INTERVAL_S) -> None:
        self.clients: set[LiveClient] = set()
        self.feed = BoardFeed()
        self.push_interval_s = push_interval_s
        self._pushed_at: dict[str, float] = {}  # per task: when its followers were last woken
        self._push_due: set[str] = set()  # tasks whose next push is scheduled
        self._by_team: dict[str, set[LiveClient]] = {}
        self._by_task: dict[str, set[LiveClient]] = {}
        self._subscriptions: list[Subscription] = []

    def add(self, client: LiveClient) -> None:
        self.clients.add(client)
        if client.principal is not None:
            self._by_team.setdefault(client.principal.account_id, set()).add(client)

    def remove(self, client: LiveClient) -> None:
        self.clients.discard(client)
        if client.principal is not None:
            _discard(self._by_team, client.principal.account_id, client)
        self.unfollow(client, list(client.following))

    def follow(self, client: LiveClient, task_ids: list[str]) -> None:
        """Start with the whole current board, then what changes."""
        for task_id in task_ids:
            client.following.add(task_id)
            self._by_task.setdefault(task_id, set()).add(client)
            client.sent.pop(task_id, None)
            client.board_changed(task_id)

    def unfollow(self, client: LiveClient, task_ids: list[str]) -> None:
        for task_id in task_ids:
            client.following.discard(task_id)
            _discard(self._by_task, task_id, client)
            client.sent.pop(task_id, None)
            client.due.discard(task_id)

    def broadcast(self, message: LiveMessage) -> None:
        """A message for every socket, signed in or not: it must carry nothing private (`competition`, `phase`)."""
        payload = _encoder.encode(message)
        for client in self.clients:
            client.push(payload)

    def _for_team(self, team_id: str, message: LiveMessage) -> None:
        """`message` to the team's sockets on this process (encoded only when the team has one here: every process
        hears every team's events)."""
        clients = self._by_team.get(team_id)
        if not clients:
            return
        payload = _encoder.encode(message)
        for client in clients:
            client.push(payload)

    def queue_moved(self, event: QueueMoved) -> None:
        """A pool's places: each to its own team's sockets."""
        for place in event.places:
            self._for_team(str(place.team_id), QueueMessage(
                submission_id=place.submission_id, queue_position=place.queue_position, eta_s=place.eta_s))

    def on_board(self, task_id: str, revision: int, board: Board, previous: Board | None) -> None:
        """Keep the revision; wake the task's followers now, or — when they were woken less than
        `push_interval_s` ago — once that interval is over, with every change made meanwhile in one message."""
        if self.feed.add(task_id, revision, board):
            for client in self._by_task.get(task_id, ()):
                client.sent.pop(task_id, None)  # the whole board: its revision belonged to the old history
        if task_id in self._push_due:
            return
        loop = asyncio.get_running_loop()
        wait = self._pushed_at.get(task_id, -math.inf) + self.push_interval_s - loop.time()
        if wait <= 0:
            self._push(task_id)
        else:
            self._push_due.add(task_id)
            loop.call_later(wait, self._push, task_id)

    def _push(self, task_id: str) -> None:
        self._push_due.discard(task_id)
        self._pushed_at[task_id] = asyncio.get_running_loop().time()
        for client in self._by_task.get(task_id, ()):
            client.board_changed(task_id)

    async def start(self, nc: NatsClient) -> None:
        async def on_status(message: Msg) -> None:
            event = _status.decode(message.data)
            self._for_team(str(event.team_id), SubmissionMessage(submission_id=event.submission_id,
                                                                 status=event.status))

        async def on_progress(message: Msg) -> None:
            event = codec.decode(message.data)
            if isinstance(event, ScoreProgress):
                self._for_team(event.team_id, ProgressMessage(submission_id=int(event.submission_id),
                                                              done=event.done, total=event.total))

        async def on_log(message: Msg) -> None:
            event = codec.decode(message.data)
            # A line for the host only (a scoring program's output) is never a team's to read.
            if isinstance(event, JobLogged) and not event.host_only:
                self._for_team(event.team_id, LogMessage(submission_id=int(event.submission_id), level=event.level,
                                                         line=event.line, at=event.occurred_at))

        async def on_queue(message: Msg) -> None:
            self.queue_moved(_queue.decode(message.data))

        async def on_question(message: Msg) -> None:
            event = codec.decode(message.data)
            if not isinstance(event, QuestionChanged):
                return
            payload = _encoder.encode(QuestionMessage(question_id=event.question_id, change=event.change))
            for client in self.clients:
                viewer = client.principal
                if viewer is not None and (event.visible_to_all or viewer.is_admin
                                           or viewer.account_id == str(event.team_id)):
                    client.push(payload)

        for subject, handler in (("live.submission.>", on_status), ("job.progress.>", on_progress),
                                 ("live.queue.>", on_queue), ("job.log.>", on_log), ("qa.question.>", on_question)):
            self._subscriptions.append(await nc.subscribe(subject, cb=_guarded(handler)))

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()


def _discard(index: dict[str, set[LiveClient]], key: str, client: LiveClient) -> None:
    clients = index.get(key)
    if clients is not None:
        clients.discard(client)
        if not clients:
            del index[key]


def _guarded(handler: Callable[[Msg], Awaitable[None]]) -> Callable[[Msg], Awaitable[None]]:
    """A malformed message must not end the subscription."""

    async def guarded(message: Msg) -> None:
        try:
            await handler(message)
        except msgspec.DecodeError as exc:
            log.warning("ignored a malformed live message", extra={"subject": message.subject, "error": str(exc)})

    return guarded


def socket_token(socket: WebSocket) -> tuple[str | None, str | None]:
    """The access token a socket presents, and the subprotocol to answer with. A browser cannot set headers on a
    WebSocket, so it offers the subprotocols `podium` and `bearer.<token>` (a URL would put the token in every log
    and proxy on the way); other clients may send `Authorization: Bearer <token>`."""
    offered = socket.scope.get("subprotocols") or []
    for protocol in offered:
        if protocol.startswith(BEARER_PROTOCOL_PREFIX):
            answer = PODIUM_PROTOCOL if PODIUM_PROTOCOL in offered else None  # never echo the token back
            return protocol.removeprefix(BEARER_PROTOCOL_PREFIX), answer
    scheme, _, token = socket.headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None, None


async def keep_valid(socket: WebSocket, identity: Identity, token: str) -> None:
    """Close the socket as soon as its token stops being valid: revoked (a password change, a disabled or deleted
    team, a replayed refresh token) or expired — checked again on every revocation the gateway hears of, and at
    the token's `exp`."""
    expires_at = float(jwt.decode(token, options={"verify_signature": False})["exp"])
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(identity.revocation(), timeout=max(0.0, expires_at - time.time()))
        try:
            identity.verifier.verify(token)
        except InvalidToken as exc:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await socket.close(code=4401, reason=str(exc)[:120])
            return


def follow_limit(state: GatewayState) -> int:
    """How many names one follow message may carry: as many as there are things to follow (the competition's tasks,
    and the boards there are, a removed task's included), or MAX_FOLLOWED when there are fewer."""
    return max(MAX_FOLLOWED, len(state.competition.current.tasks) + len(state.boards.boards))


async def known_tasks(state: GatewayState, names: list[str]) -> tuple[list[str], str | None]:
    """The task ids among `names` (ids or aliases) and, when some are refused, why: only the competition's tasks
    can be followed, and no more names than `follow_limit`, so a client cannot grow the hub's indexes or its work at
    will."""
    names = list(dict.fromkeys(names))
    limit = follow_limit(state)
    if len(names) > limit:
        return [], f"follow at most {limit} tasks at once (the competition's tasks and boards)"
    known, unknown = [], []
    for name in names:
        try:
            known.append(await task_id_of(state, name))
        except Problem:  # 404: not a task of the competition in use
            unknown.append(name)
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:3]) + (", …" if len(unknown) > 3 else "")
        return known, f"no such task: {shown}"
    return known, None


# What the sockets send, as JSON Schema: built once, the same for everyone (it describes messages, holds none).
LIVE_SCHEMA = live_schema()


@get("/api/v1/live/schema.json", tags=["live"], sync_to_thread=False,
     summary="The JSON Schema of every message /ws and /ws/boards send: a union tagged by its `type` field")
def live_messages_schema() -> dict[str, object]:
    return LIVE_SCHEMA


@websocket("/ws")
async def live_socket(socket: WebSocket, state: GatewayState) -> None:
    """Send `{"follow": ["task"]}` to receive that task's board on every change; a team also receives its
    submissions' status and progress and its questions' answers. Authenticate with the subprotocols `podium` and
    `bearer.<token>`, or a bearer header; the socket closes (4401) when the token is revoked or expires."""
    token, subprotocol = socket_token(socket)
    await socket.accept(subprotocols=subprotocol)
    if "token" in socket.query_params:
        await socket.close(code=4401, reason="send the token as the subprotocol 'bearer.<token>', never in the URL")
        return
    if not token:
        await socket.close(code=4401, reason="a valid token is required (subprotocol 'bearer.<token>')")
        return
    try:
        principal = await state.identity.verify(token)
    except InvalidToken as exc:
        await socket.close(code=4401, reason=str(exc)[:120])
        return
    await _serve(socket, state, LiveClient(principal), keep_valid(socket, state.identity, token))


@websocket("/ws/boards")
async def board_socket(socket: WebSocket, state: GatewayState) -> None:
    """Anyone, no token: send `{"follow": ["task"]}` to receive that task's board on every change — the public
    board, and the private one only once it is revealed (never with `?private=false`, e.g. for a projector). No
    team's messages travel here; a token offered is not read (this is every visitor's view)."""
    offered = socket.scope.get("subprotocols") or []
    await socket.accept(subprotocols=PODIUM_PROTOCOL if PODIUM_PROTOCOL in offered else None)
    private = socket.query_params.get("private", "true")
    if private not in ("true", "false"):
        await socket.close(code=4400, reason="?private= takes true or false")
        return
    await _serve(socket, state, LiveClient(None, private=private == "true"), None)


async def _serve(socket: WebSocket, state: GatewayState, client: LiveClient, watchdog: Coroutine[Any, Any, None] | None
                 ) -> None:
    """Follow what the client asks for and send it its messages until it leaves (or `watchdog` closes it)."""
    hub: LiveHub = state.live
    hub.add(client)
    WEBSOCKET_CLIENTS.inc()
    tasks = [asyncio.create_task(_send(socket, client, hub.feed))]
    if watchdog is not None:
        tasks.append(asyncio.create_task(watchdog))
    try:
        while True:
            text = await socket.receive_text()
            try:
                request = msgspec.json.decode(text, type=Follow)
            except JSON_ERRORS as exc:
                reason = json_problem(text, exc)[1]
                client.send(ErrorMessage(detail=f"send {{\"follow\": [task ids]}}: {reason}"))
                continue
            known, refusal = await known_tasks(state, request.follow)
            if refusal:
                client.send(ErrorMessage(detail=refusal))
            hub.follow(client, known)
            hub.unfollow(client, request.unfollow[:follow_limit(state)])
    except WebSocketDisconnect:
        pass
    finally:
        hub.remove(client)
        WEBSOCKET_CLIENTS.dec()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _send(socket: WebSocket, client: LiveClient, feed: BoardFeed) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            for payload in await client.next_messages(feed):
                await socket.send_text(payload.decode())
