"""Request/reply contracts of the leaderboard service (admin and team decisions about the boards, the
board at a past moment, the audit trail). The boards themselves are in the KV bucket `leaderboards`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from proto.rpc import ActorNeed, Operation, Rep, Req

LEADERBOARD_PREFIX = "rpc.leaderboard"


class Entry(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One team's line on a board. Untracked by the garbage collector (`gc=False`: it holds only scalars and a
    dict of floats, so it is never part of a reference cycle): a gateway keeps tens of thousands of them (each task's
    recent revisions), and full collections walked them all."""

    rank: int
    team_id: str
    team_name: str
    score: float
    submission_id: int
    submitted_at: datetime
    submissions: int
    last_submission_at: datetime
    # Places gained (+) or lost (−) since the task's previous scored submission; None for a new team.
    rank_change: int | None = None
    # Every column's value on this board's split, by header (`Board.columns`); `score` is the primary one's. A hidden
    # column's value is here only in the leaderboard service's copy and an admin's view.
    columns: dict[str, float] = {}


class BoardColumn(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A column of a board, in the order shown (the primary one first)."""

    name: str
    metric: str
    sort: str
    precision: int = 4
    primary: bool = False
    tie_break: bool = False
    # Shown to admins only: the gateway takes a hidden column out of everyone else's view.
    hidden: bool = False


class Board(msgspec.Struct, frozen=True, kw_only=True):
    """A task's boards, as the leaderboard service writes them to the KV bucket (key: the task id)."""

    task_id: str
    sort: str
    public: list[Entry]
    private: list[Entry]
    private_revealed: bool
    scores_counted: int
    columns: list[BoardColumn] = []


class BoardReveal(msgspec.Struct, frozen=True):
    """The one field of a `Board` in the KV bucket that says whether its private side is shown to everyone:
    decoding only it skips the entries (a service that needs the reveal state reads no more)."""

    private_revealed: bool = False


# A decision's body is the gateway's HTTP body too; its request adds what the path names (who decides travels
# beside it).
class StandingDecision(msgspec.Struct, frozen=True, kw_only=True):
    """A flag left out (None) keeps the value the team's previous decision set (none yet: False)."""

    hidden: bool | None = None
    disqualified: bool | None = None
    reason: str = ""


class SetStanding(StandingDecision, frozen=True, kw_only=True):
    team_id: int


class RevealDecision(msgspec.Struct, frozen=True, kw_only=True):
    revealed: bool = True


class SetReveal(RevealDecision, frozen=True, kw_only=True):
    task_id: str


class FinalsChoice(msgspec.Struct, frozen=True, kw_only=True):
    submission_ids: list[int]


class SelectFinals(FinalsChoice, frozen=True, kw_only=True):
    task_id: str


class Accepted(msgspec.Struct, frozen=True, kw_only=True, tag="accepted"):
    """The decision is recorded (an event); the boards follow within moments."""

    message: str
    revision: int


class BoardAt(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    at: datetime


class BoardSnapshot(msgspec.Struct, frozen=True, kw_only=True, tag="board"):
    """A board as JSON-ready data (see leaderboard_service.board.Board for its shape)."""

    board: dict[str, Any]


class ListAudit(msgspec.Struct, frozen=True, kw_only=True):
    """The audit trail, newest first, filtered by action, by who acted, by target and by time."""

    limit: int = 200
    action: str = ""
    by: str = ""
    target: str = ""
    since: datetime | None = None
    until: datetime | None = None


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    stream: str = "BOARD"
    action: str
    actor: str
    target: str
    detail: dict[str, Any]
    occurred_at: datetime


class AuditList(msgspec.Struct, frozen=True, kw_only=True, tag="audit"):
    entries: list[AuditEntry]


def _op(name: str, request: type[Req], reply: type[Rep], actor: ActorNeed = "required") -> Operation[Req, Rep]:
    return Operation(LEADERBOARD_PREFIX, name, request, reply, actor)


class StandingAccepted(msgspec.Struct, frozen=True, kw_only=True, tag="standing_accepted"):
    """The standing decision is recorded, with the values it set (both flags); the boards follow within moments."""

    message: str
    revision: int
    hidden: bool
    disqualified: bool


SET_STANDING = _op("standing", SetStanding, StandingAccepted)
SET_REVEAL = _op("reveal", SetReveal, Accepted)
SELECT_FINALS = _op("finals", SelectFinals, Accepted)
BOARD_AT = _op("board_at", BoardAt, BoardSnapshot, "optional")
LIST_AUDIT = _op("audit", ListAudit, AuditList)


class RescoreStatus(msgspec.Struct, frozen=True, kw_only=True):
    rescore_id: str


class Movement(msgspec.Struct, frozen=True, kw_only=True):
    team_id: str
    team_name: str
    old_rank: int | None
    new_rank: int | None
    old_score: float | None
    new_score: float | None


class RescoreReport(msgspec.Struct, frozen=True, kw_only=True, tag="rescore_report"):
    rescore_id: str
    task_id: str
    scorer_version: str
    expected: int
    done: int
    completed: bool
    # Every team on the public board before or after, with its old and new rank and score.
    movements: list[Movement] = []


RESCORE_STATUS = _op("rescore_status", RescoreStatus, RescoreReport)


class ListStandings(msgspec.Struct, frozen=True, kw_only=True):
    """Every team that is hidden or disqualified (a team not listed stands on every board)."""



class TeamStanding(msgspec.Struct, frozen=True, kw_only=True):
    team_id: str
    hidden: bool
    disqualified: bool
    reason: str = ""  # the admin's words with the latest decision
    changed_by: str = ""
    changed_at: datetime | None = None


class Standings(msgspec.Struct, frozen=True, kw_only=True, tag="standings"):
    teams: list[TeamStanding]


LIST_STANDINGS = _op("standings", ListStandings, Standings)
