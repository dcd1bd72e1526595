"""A task's boards as a pure function of its scores, its teams' states and their final selections.

Public board: each visible team's best public score by the task's sort order, ties broken by the earlier
submission (then the lower submission id, so the order is total). Private board: each team's best private
score among its selected final submissions, or among its `max_finals` best public ones if it selected none.
Rank change: the team's rank now against its rank before the most recent scored submission of the task.
Because nothing here depends on the order events arrived in, replaying them in any order — or twice — gives
the same board.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from proto.leaderboard import Board, Entry


@dataclass(frozen=True)
class ScoreRow:
    submission_id: int
    team_id: str
    public: float
    private: float
    submitted_at: datetime


@dataclass(frozen=True)
class TeamState:
    name: str
    hidden: bool = False
    disqualified: bool = False
    deleted: bool = False


def _better(sort: str):  # noqa: ANN202 — a sort key: best first, then earlier, then lower id
    sign = -1.0 if sort == "desc" else 1.0

    def key_public(row: ScoreRow) -> tuple[float, datetime, int]:
        return (sign * row.public, row.submitted_at, row.submission_id)

    def key_private(row: ScoreRow) -> tuple[float, datetime, int]:
        return (sign * row.private, row.submitted_at, row.submission_id)

    return key_public, key_private


def _by_team(rows: Iterable[ScoreRow], teams: Mapping[str, TeamState], *, include_hidden: bool
             ) -> dict[str, list[ScoreRow]]:
    grouped: dict[str, list[ScoreRow]] = {}
    for row in rows:
        state = teams.get(row.team_id)
        if state is None or state.deleted or state.disqualified or (state.hidden and not include_hidden):
            continue
        grouped.setdefault(row.team_id, []).append(row)
    return grouped


def _rank(best: dict[str, ScoreRow], key) -> list[tuple[str, ScoreRow]]:  # noqa: ANN001
    return sorted(best.items(), key=lambda item: key(item[1]))


def _public_ranking(rows: list[ScoreRow], teams: Mapping[str, TeamState], sort: str) -> list[tuple[str, ScoreRow]]:
    key_public, _ = _better(sort)
    grouped = _by_team(rows, teams, include_hidden=False)
    return _rank({team: min(team_rows, key=key_public) for team, team_rows in grouped.items()}, key_public)


def compute_board(
    task_id: str,
    sort: str,
    rows: Iterable[ScoreRow],
    teams: Mapping[str, TeamState],
    finals: Mapping[str, frozenset[int]],
    *,
    max_finals: int,
    private_revealed: bool,
) -> Board:
    rows = sorted(rows, key=lambda r: (r.submitted_at, r.submission_id))
    key_public, key_private = _better(sort)
    counts: dict[str, int] = {}
    last_at: dict[str, datetime] = {}
    for row in rows:
        counts[row.team_id] = counts.get(row.team_id, 0) + 1
        last_at[row.team_id] = row.submitted_at

    ranking = _public_ranking(rows, teams, sort)
    previous = {team: place for place, (team, _) in enumerate(_public_ranking(rows[:-1], teams, sort), start=1)}

    def entry(place: int, team: str, row: ScoreRow, score: float, change: int | None) -> Entry:
        return Entry(rank=place, team_id=team, team_name=teams[team].name, score=score,
                     submission_id=row.submission_id, submitted_at=row.submitted_at, submissions=counts[team],
                     last_submission_at=last_at[team], rank_change=change)

    public = [
        entry(place, team, row, row.public, previous[team] - place if team in previous else None)
        for place, (team, row) in enumerate(ranking, start=1)
    ]

    private_best: dict[str, ScoreRow] = {}
    for team, team_rows in _by_team(rows, teams, include_hidden=False).items():
        chosen = [r for r in team_rows if r.submission_id in finals.get(team, frozenset())]
        candidates = chosen or sorted(team_rows, key=key_public)[:max_finals]
        private_best[team] = min(candidates, key=key_private)
    private = [
        entry(place, team, row, row.private, None)
        for place, (team, row) in enumerate(_rank(private_best, key_private), start=1)
    ]
    return Board(task_id=task_id, sort=sort, public=public, private=private, private_revealed=private_revealed,
                 scores_counted=len(rows))
