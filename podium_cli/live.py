"""The gateway's WebSocket (`/ws`, the token offered as the subprotocol `bearer.<token>`) as the CLI uses it:
follow tasks, read pushes (`proto.live`'s messages) with a timeout, and a board kept current from whole boards and
deltas. When the socket cannot be had, callers poll the REST API."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import msgspec
from websockets.exceptions import ConnectionClosed, InvalidHandshake, WebSocketException
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from podium_cli.client import PodiumClient, websocket_url
from proto.leaderboard import Entry
from proto.live import BoardDeltaMessage, BoardMessage, Follow, LiveMessage, Moved

OPEN_TIMEOUT_S = 5.0
_decoder = msgspec.json.Decoder(LiveMessage)
_encoder = msgspec.json.Encoder()


class LiveFeed:
    """One WebSocket; `receive` gives the next push, None after `timeout_s` without one. Once the socket is gone
    (`closed`), it stays gone: the caller polls instead."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.closed = False

    def follow(self, task_ids: list[str]) -> None:
        if self.closed:
            return
        try:
            self.connection.send(_encoder.encode(Follow(follow=task_ids)).decode())
        except (ConnectionClosed, OSError):
            self.closed = True

    def receive(self, timeout_s: float) -> LiveMessage | None:
        if self.closed:
            return None
        try:
            raw = self.connection.recv(timeout=timeout_s)
        except TimeoutError:
            return None
        except (ConnectionClosed, OSError):
            self.closed = True
            return None
        try:
            return _decoder.decode(raw)
        except msgspec.DecodeError:  # a message this CLI does not know (from a newer gateway): not for it
            return None


@contextlib.contextmanager
def live_feed(client: PodiumClient) -> Iterator[LiveFeed | None]:
    """A socket signed with the caller's (fresh) token, closed on leaving; None when there is none to be had
    (not logged in, no WebSocket through a proxy, …)."""
    with contextlib.ExitStack() as stack:
        connection = None
        if client.logged_in:
            url = websocket_url(client.url, "/ws")
            protocols = [Subprotocol("podium"), Subprotocol(f"bearer.{client.access_token()}")]  # never in the URL
            try:
                connection = stack.enter_context(connect(url, subprotocols=protocols, open_timeout=OPEN_TIMEOUT_S,
                                                         close_timeout=1))
            except (OSError, TimeoutError, InvalidHandshake, WebSocketException):
                connection = None
        yield LiveFeed(connection) if connection is not None else None


def _lines(entries: list[Entry]) -> list[dict[str, Any]]:
    return msgspec.to_builtins(entries)  # as the REST board has them


def _apply(entries: list[dict[str, Any]], changed: list[Entry], moved: list[Moved], removed: list[str]
           ) -> list[dict[str, Any]]:
    """changed: whole lines; moved: [team id, rank, rank_change] of lines that only changed places."""
    by_team = {e["team_id"]: e for e in entries if e["team_id"] not in set(removed)}
    by_team.update({e["team_id"]: e for e in _lines(changed)})
    for team_id, rank, rank_change in moved:
        if team_id in by_team:
            by_team[team_id] = {**by_team[team_id], "rank": rank, "rank_change": rank_change}
    return sorted(by_team.values(), key=lambda e: (e["rank"], e["team_name"]))


class LiveBoard:
    """A task's board as the socket describes it: a whole `board`, then `board_delta`s (changed lines, teams
    that left), in the REST board's shape so one table renders both."""

    def __init__(self, board: dict[str, Any]) -> None:
        self.board = dict(board)
        self.stale = False

    @property
    def task_id(self) -> str:
        return self.board["task_id"]

    def apply(self, message: LiveMessage) -> bool:
        """Take a push into the board; True when it was about this board."""
        if not isinstance(message, BoardMessage | BoardDeltaMessage) or message.task_id != self.task_id:
            return False
        if isinstance(message, BoardMessage):
            self.board = {"task_id": message.task_id, "revision": message.revision, "sort": message.sort,
                          "private_revealed": message.private_revealed, "public": _lines(message.public),
                          "private": _lines(message.private) if message.private is not None else None,
                          "columns": msgspec.to_builtins(message.columns)}
            return True
        board = self.board
        board["revision"] = message.revision
        board["private_revealed"] = message.private_revealed
        board["public"] = _apply(board.get("public") or [], message.changed, message.moved, message.removed)
        if message.private_changed is not None:
            if board.get("private") is None:
                self.stale = True  # a delta against a private board we never had: ask for the whole board
            else:
                board["private"] = _apply(board["private"], message.private_changed, message.private_moved or [],
                                          message.private_removed or [])
        return True
