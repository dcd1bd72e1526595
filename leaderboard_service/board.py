"""A task's boards as a pure function of its scores, its teams' states and their final selections.

Public board: each visible team's best public line by the task's columns — the primary column by its direction, then
the declared tie-break columns in their order, each by its own direction (a line lacking a tie-break value after the
lines that have one) — then the earlier submission, then the lower submission id, so the order is total. Private
board: the same order over each team's private values, among its selected final submissions, or among its
`max_finals` best public ones if it selected none. A line without a finite primary value (a submission that could
not be scored) never ranks. Rank change: the team's rank now against its rank before the most recent scored
submission of the task. Because nothing here depends on the order events arrived in, replaying them in any order —
or twice — gives the same board.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from proto.competition import Task
from proto.leaderboard import Board, BoardColumn, Entry


@dataclass(frozen=True)
class ScoreRow:
    submission_id: int
    team_id: str
    # The primary column's values as scored (`ScoreComputed.public_score` / `private_score`).
    public: float
    private: float
    submitted_at: datetime
    # Every column's value by header; empty for a score from before columns (its only value is the primary's).
    public_columns: Mapping[str, float] = field(default_factory=dict)
    private_columns: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TeamState:
    name: str
    hidden: bool = False
    disqualified: bool = False
    deleted: bool = False


def board_columns(task: Task) -> list[BoardColumn]:
    """The task's columns as a board shows and ranks them: the primary one first, hidden ones flagged."""
    return [BoardColumn(name=column.header, metric=column.name, sort=column.direction, precision=column.precision,
                        primary=place == 0, tie_break=column.tie_break, hidden=column.hidden)
            for place, column in enumerate(task.columns)]


@dataclass(frozen=True)
class _Split:
    """One side of the boards (public or private): where a row keeps its values there."""

    score: Callable[[ScoreRow], float]
    columns: Callable[[ScoreRow], Mapping[str, float]]


_PUBLIC = _Split(lambda row: row.public, lambda row: row.public_columns)
_PRIVATE = _Split(lambda row: row.private, lambda row: row.private_columns)
RankKey = tuple[object, ...]


@dataclass(frozen=True)
class _Ranking:
    """How lines compare: the primary column, then the tie-break columns in the order declared."""

    primary: BoardColumn
    tie_breaks: tuple[BoardColumn, ...]

    @classmethod
    def of(cls, columns: Sequence[BoardColumn]) -> _Ranking:
        primaries = [column for column in columns if column.primary]
        if len(primaries) != 1:
            raise ValueError(f"a board ranks by one primary column, not {len(primaries)}")
        return cls(primaries[0], tuple(column for column in columns if column.tie_break and not column.primary))

    def score(self, row: ScoreRow, split: _Split) -> float:
        """The row's primary value: the primary column's, else (a score from before columns, or from before the
        host made this column primary) the score as it was ranked when computed."""
        return split.columns(row).get(self.primary.name, split.score(row))

    def ranks(self, row: ScoreRow, split: _Split) -> bool:
        return math.isfinite(self.score(row, split))

    def key(self, split: _Split) -> Callable[[ScoreRow], RankKey]:
        """A sort key, best first: each column's value signed by its direction (a missing or non-finite value after
        every real one), then the earlier submission, then the lower id."""

        def key(row: ScoreRow) -> RankKey:
            values = split.columns(row)
            parts: list[object] = [*_signed(self.score(row, split), self.primary.sort)]
            for column in self.tie_breaks:
                parts.extend(_signed(values.get(column.name), column.sort))
            return (*parts, row.submitted_at, row.submission_id)

        return key


def _signed(value: float | None, sort: str) -> tuple[int, float]:
    if value is None or not math.isfinite(value):
        return (1, 0.0)
    return (0, -value if sort == "desc" else value)


def _entry_columns(ranking: _Ranking, row: ScoreRow, split: _Split) -> dict[str, float]:
    """The line's values by header: a score from before columns shows its score as the primary column's."""
    values = split.columns(row)
    if not values:
        return {ranking.primary.name: split.score(row)}
    return {name: value for name, value in values.items() if math.isfinite(value)}


def _by_team(rows: Iterable[ScoreRow], teams: Mapping[str, TeamState]) -> dict[str, list[ScoreRow]]:
    """Each visible team's rows (hidden, disqualified and deleted teams are on no board)."""
    grouped: dict[str, list[ScoreRow]] = {}
    for row in rows:
        state = teams.get(row.team_id)
        if state is None or state.deleted or state.disqualified or state.hidden:
            continue
        grouped.setdefault(row.team_id, []).append(row)
    return grouped


def _rank(best: dict[str, ScoreRow], key: Callable[[ScoreRow], RankKey]) -> list[tuple[str, ScoreRow]]:
    return sorted(best.items(), key=lambda item: key(item[1]))


def _public_ranking(rows: list[ScoreRow], teams: Mapping[str, TeamState], ranking: _Ranking
                    ) -> list[tuple[str, ScoreRow]]:
    key = ranking.key(_PUBLIC)
    best = {}
    for team, team_rows in _by_team(rows, teams).items():
        ranked = [row for row in team_rows if ranking.ranks(row, _PUBLIC)]
        if ranked:
            best[team] = min(ranked, key=key)
    return _rank(best, key)


def compute_board(
    task_id: str,
    columns: Sequence[BoardColumn],
    rows: Iterable[ScoreRow],
    teams: Mapping[str, TeamState],
    finals: Mapping[str, frozenset[int]],
    *,
    max_finals: int,
    private_revealed: bool,
) -> Board:
    """`columns`: the task's columns (`board_columns`), exactly one of them primary."""
    ranking = _Ranking.of(columns)
    rows = sorted(rows, key=lambda r: (r.submitted_at, r.submission_id))
    key_public, key_private = ranking.key(_PUBLIC), ranking.key(_PRIVATE)
    counts: dict[str, int] = {}
    last_at: dict[str, datetime] = {}
    for row in rows:
        counts[row.team_id] = counts.get(row.team_id, 0) + 1
        last_at[row.team_id] = row.submitted_at

    ranking_now = _public_ranking(rows, teams, ranking)
    previous = {team: place for place, (team, _) in enumerate(_public_ranking(rows[:-1], teams, ranking), start=1)}

    def entry(place: int, team: str, row: ScoreRow, split: _Split, change: int | None) -> Entry:
        return Entry(rank=place, team_id=team, team_name=teams[team].name, score=ranking.score(row, split),
                     submission_id=row.submission_id, submitted_at=row.submitted_at, submissions=counts[team],
                     last_submission_at=last_at[team], rank_change=change,
                     columns=_entry_columns(ranking, row, split))

    public = [
        entry(place, team, row, _PUBLIC, previous[team] - place if team in previous else None)
        for place, (team, row) in enumerate(ranking_now, start=1)
    ]

    private_best: dict[str, ScoreRow] = {}
    for team, team_rows in _by_team(rows, teams).items():
        chosen = [r for r in team_rows if r.submission_id in finals.get(team, frozenset())]
        scored = [r for r in team_rows if ranking.ranks(r, _PUBLIC)]
        candidates = [r for r in chosen or sorted(scored, key=key_public)[:max_finals] if ranking.ranks(r, _PRIVATE)]
        if candidates:
            private_best[team] = min(candidates, key=key_private)
    private = [
        entry(place, team, row, _PRIVATE, None)
        for place, (team, row) in enumerate(_rank(private_best, key_private), start=1)
    ]
    return Board(task_id=task_id, sort=ranking.primary.sort, public=public, private=private,
                 private_revealed=private_revealed, scores_counted=len(rows), columns=list(columns))
