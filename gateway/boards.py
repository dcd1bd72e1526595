"""The gateway's copy of every task's board, kept current by watching the `leaderboards` KV bucket, so a
leaderboard request never touches a database; listeners (the WebSocket hub) hear of each change."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import msgspec
from nats.js.kv import KeyValue

from proto.leaderboard import Board

log = logging.getLogger(__name__)


_decoder = msgspec.json.Decoder(Board)


class Boards:
    def __init__(self) -> None:
        self.boards: dict[str, tuple[int, Board]] = {}
        self.loaded = asyncio.Event()
        # Called with (task id, revision, new board, previous board or None) on every change.
        self.listeners: list[Callable[[str, int, Board, Board | None], Any]] = []

    def get(self, task_id: str) -> tuple[int, Board] | None:
        return self.boards.get(task_id)

    def apply(self, entry: KeyValue.Entry | None) -> None:
        """One entry of the `leaderboards` bucket (None: the current boards are all delivered)."""
        if entry is None:
            self.loaded.set()
            return
        if entry.operation in ("DEL", "PURGE") or not entry.value:
            self.boards.pop(entry.key, None)
            return
        revision = entry.revision
        if revision is None:  # nats-py types it optional; a watched entry always has its stream sequence
            log.warning("ignored a board without a revision", extra={"task_id": entry.key})
            return
        previous = self.boards.get(entry.key)
        if previous is not None and previous[0] == revision:
            return  # a watch started again after a reconnection delivers what we have: nothing to push
        # A lower revision than ours: the bucket was created again (JetStream's store wiped), a new history.
        try:
            board = _decoder.decode(entry.value)
        except msgspec.DecodeError as exc:
            log.warning("ignored an unreadable board", extra={"task_id": entry.key, "error": str(exc)})
            return
        self.boards[entry.key] = (revision, board)
        for listener in self.listeners:
            listener(entry.key, revision, board, previous[1] if previous else None)
