"""What the gateway's WebSocket (`/ws`, `/ws/boards`) sends: a tagged union whose tag is the JSON field `type` the
web page (`gateway/web/static/live.js`) and the `podium` CLI read. The gateway encodes these Structs, the CLI decodes
`LiveMessage`, a client asks with `Follow`; the messages' JSON Schema is served at `/api/v1/live/schema.json`.

Boards: a whole `board` when a client starts following a task (or fell too far behind), then `board_delta`s from
the revision it has. A team's own pushes: its submissions' `submission` status, `progress`, `queue` place and
scorer's `log` lines, and `question` changes it may see. `error`: a follow request refused, with the reason.
To every socket, whatever it follows: `competition` when a new version of the competition is in use (read the task
list again), and `phase` when a task's phase opens or closes. Neither carries more than ids and a version."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from proto.leaderboard import BoardColumn, Entry

# [team id, rank, rank change] of a line that only changed places on a board.
Moved = tuple[str, int, int | None]


class Follow(msgspec.Struct, frozen=True):
    """What a client sends: tasks to start following (their whole board comes first) and tasks to stop following."""

    follow: list[str] = []
    unfollow: list[str] = []


class _Live(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    pass


class BoardMessage(_Live, frozen=True, tag="board"):
    """A task's whole board; `private` is null for a viewer who may not see the private board (now). `columns`: the
    board's columns the viewer may see, in display order (a line's `columns` holds their values by header); a delta
    never changes them (new columns come as a whole board)."""

    task_id: str
    revision: int
    sort: str
    private_revealed: bool
    public: list[Entry]
    private: list[Entry] | None
    columns: list[BoardColumn] = []


class BoardDeltaMessage(_Live, frozen=True, omit_defaults=True, tag="board_delta"):
    """What changed from `base_revision` (the revision the client has) to `revision`: lines new or changed beyond
    their place, lines that only moved, teams that left. The `private_*` fields are there only for a viewer of the
    private board (absent, not empty, for everyone else)."""

    task_id: str
    revision: int
    base_revision: int | None
    private_revealed: bool
    changed: list[Entry]
    moved: list[Moved]
    removed: list[str]
    private_changed: list[Entry] | None = None
    private_moved: list[Moved] | None = None
    private_removed: list[str] | None = None


class SubmissionMessage(_Live, frozen=True, tag="submission"):
    """One of the team's submissions changed status (read the submission for its score or reason)."""

    submission_id: int
    status: str


class ProgressMessage(_Live, frozen=True, tag="progress"):
    submission_id: int
    done: int
    total: int


class QueueMessage(_Live, frozen=True, tag="queue"):
    """A queued submission's place in its scorer pool's queue (1 = next) and the expected seconds until its score."""

    submission_id: int
    queue_position: int
    eta_s: float | None


class LogMessage(_Live, frozen=True, tag="log"):
    """A line the scorer wrote about one of the team's submissions."""

    submission_id: int
    level: str
    line: str
    at: datetime


class QuestionMessage(_Live, frozen=True, tag="question"):
    """A question the viewer may see changed (posted, announced, answered, edited, hidden, shown, unanswered,
    deleted): read it for what it now says."""

    question_id: int
    change: str


class ErrorMessage(_Live, frozen=True, tag="error"):
    """A follow request refused, in words a person can act on."""

    detail: str


class CompetitionMessage(_Live, frozen=True, tag="competition"):
    """A new version of the competition is in use: `tasks` were added, changed or removed (read the task list again
    for what they say now)."""

    version: int
    tasks: list[str]


class PhaseMessage(_Live, frozen=True, tag="phase"):
    """A task's phase opened or closed just now (submissions to it start or stop being taken)."""

    task_id: str
    phase_id: str
    state: Literal["opened", "closed"]


LiveMessage = (BoardMessage | BoardDeltaMessage | SubmissionMessage | ProgressMessage | QueueMessage | LogMessage
               | QuestionMessage | ErrorMessage | CompetitionMessage | PhaseMessage)
LIVE_MESSAGES: tuple[type[_Live], ...] = (BoardMessage, BoardDeltaMessage, SubmissionMessage, ProgressMessage,
                                          QueueMessage, LogMessage, QuestionMessage, ErrorMessage, CompetitionMessage,
                                          PhaseMessage)


def live_schema() -> dict[str, object]:
    """The JSON Schema of every message the socket sends (a `type`-tagged union)."""
    return msgspec.json.schema(LiveMessage)
