"""The board as a pure function: best score per team by sort order, ties to the earlier submission, hidden and
disqualified teams off the public board, finals for the private board, and order-independence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from leaderboard_service.board import ScoreRow, TeamState, compute_board
from proto.leaderboard import BoardColumn

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def row(submission: int, team: str, public: float, private: float | None = None, minute: int | None = None
        ) -> ScoreRow:
    return ScoreRow(submission, team, public, public if private is None else private,
                    T0 + timedelta(minutes=submission if minute is None else minute))


TEAMS = {t: TeamState(name=f"Team {t}") for t in "abcd"}


def board(rows, teams=TEAMS, finals=None, sort="desc", max_finals=2):  # noqa: ANN001, ANN201
    """A board of a task with one column (the shorthand `metric = "psnr"`)."""
    columns = [BoardColumn(name="psnr", metric="psnr", sort=sort, primary=True)]
    return compute_board("task", columns, rows, teams, finals or {}, max_finals=max_finals, private_revealed=False)


def test_best_score_per_team_ranked_by_sort_order() -> None:
    rows = [row(1, "a", 20), row(2, "a", 30), row(3, "b", 25), row(4, "c", 10)]
    assert [(e.team_id, e.score, e.rank) for e in board(rows).public] == [("a", 30, 1), ("b", 25, 2), ("c", 10, 3)]
    ascending = board(rows, sort="asc").public
    assert [(e.team_id, e.score) for e in ascending] == [("c", 10), ("a", 20), ("b", 25)]
    assert board(rows).public[0].submissions == 2 and board(rows).public[0].submission_id == 2


def test_ties_go_to_the_earlier_submission() -> None:
    rows = [row(1, "b", 30, minute=5), row(2, "a", 30, minute=9)]
    assert [e.team_id for e in board(rows).public] == ["b", "a"]


def test_hidden_and_disqualified_teams_leave_the_public_board_and_deleted_ones_every_board() -> None:
    teams = {**TEAMS, "a": TeamState("A", hidden=True), "b": TeamState("B", disqualified=True),
             "c": TeamState("C", deleted=True)}
    rows = [row(1, "a", 50), row(2, "b", 40), row(3, "c", 30), row(4, "d", 20)]
    result = board(rows, teams)
    assert [e.team_id for e in result.public] == ["d"]
    assert [e.team_id for e in result.private] == ["d"]


def test_private_board_uses_finals_or_the_best_public_submissions() -> None:
    rows = [row(1, "a", 30, private=10), row(2, "a", 20, private=50), row(3, "a", 10, private=90),
            row(4, "b", 25, private=40)]
    default = {e.team_id: e.score for e in board(rows, max_finals=2).private}
    assert default == {"a": 50, "b": 40}  # a's two best public: 30 (private 10) and 20 (private 50)
    chosen = {e.team_id: e.score for e in board(rows, finals={"a": frozenset({3})}).private}
    assert chosen == {"a": 90, "b": 40}


def test_rank_change_compares_with_the_board_before_the_latest_submission() -> None:
    rows = [row(1, "a", 30), row(2, "b", 20), row(3, "b", 40)]
    changes = {e.team_id: e.rank_change for e in board(rows).public}
    assert changes == {"b": 1, "a": -1}
    assert board([row(1, "a", 30)]).public[0].rank_change is None


scores = st.lists(
    st.builds(row, st.integers(1, 40), st.sampled_from("abcd"), st.floats(0, 100, allow_nan=False),
              st.floats(0, 100, allow_nan=False), st.integers(0, 10)),
    max_size=30, unique_by=lambda r: r.submission_id,
)


@given(scores, st.randoms(use_true_random=False), st.integers(0, 3))
def test_any_shuffle_or_duplication_gives_the_same_board(rows, rng, copies) -> None:  # noqa: ANN001
    shuffled = rows + rows[:copies]
    rng.shuffle(shuffled)
    # Duplicates are dropped by the projection's keyed insert; the board sees each score once.
    deduplicated = list({r.submission_id: r for r in shuffled}.values())
    assert board(deduplicated) == board(rows)


@given(scores)
def test_ranks_are_one_to_n_and_scores_are_ordered(rows) -> None:  # noqa: ANN001
    public = board(rows).public
    assert [e.rank for e in public] == list(range(1, len(public) + 1))
    assert all(a.score >= b.score for a, b in zip(public, public[1:], strict=False))
