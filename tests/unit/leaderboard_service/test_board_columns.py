"""Boards of a task with several columns, as a pure function: the primary column ranks, the declared tie-break
columns break its ties in their order and each by its own direction, a line lacking a tie-break value comes after
the lines that have one, a line without a finite primary value never ranks, the private board ranks by the private
values, a score from before columns ranks by its score, and a host's new primary column re-sorts the same rows."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaderboard_service.board import ScoreRow, TeamState, board_columns, compute_board
from proto.competition import parse_competition
from proto.leaderboard import BoardColumn

T0 = datetime(2026, 11, 1, tzinfo=UTC)
TEAMS = {t: TeamState(name=f"Team {t}") for t in "abcdef"}
AUC = BoardColumn(name="AUC", metric="roc_auc", sort="desc", primary=True)
LOGLOSS = BoardColumn(name="LogLoss", metric="log_loss", sort="asc", tie_break=True)
ACC = BoardColumn(name="Acc", metric="accuracy", sort="desc", tie_break=True)
HIDDEN = BoardColumn(name="F1", metric="f1_macro", sort="desc", hidden=True)


def row(submission: int, team: str, public: dict[str, float], private: dict[str, float] | None = None,
        minute: int | None = None) -> ScoreRow:
    """A score with columns; its public_score/private_score are the AUC column's, as a scorer sends them."""
    private = public if private is None else private
    return ScoreRow(submission, team, public.get("AUC", math.nan), private.get("AUC", math.nan),
                    T0 + timedelta(minutes=submission if minute is None else minute), public, private)


def old_row(submission: int, team: str, public: float, private: float | None = None) -> ScoreRow:
    """A score from before columns: only public_score and private_score."""
    return ScoreRow(submission, team, public, public if private is None else private,
                    T0 + timedelta(minutes=submission))


def board(rows, columns=(AUC, LOGLOSS, ACC), finals=None, max_finals=2):  # noqa: ANN001, ANN201
    return compute_board("task", list(columns), rows, TEAMS, finals or {}, max_finals=max_finals,
                         private_revealed=False)


def order(result_board) -> list[str]:  # noqa: ANN001
    return [entry.team_id for entry in result_board.public]


COMPETITION = """
[competition]
name = "Columns"

[[tasks]]
id = "churn"
title = "Churn"
kind = "cpu"
format = "csv"
metric = "roc_auc"
ground_truth = "churn/solution.csv"
[[tasks.metrics]]
name = "log_loss"
column = "LogLoss"
tie_break = true
precision = 3
[[tasks.metrics]]
name = "roc_auc"
column = "AUC"
primary = true
[[tasks.metrics]]
name = "accuracy"
tie_break = true
[[tasks.metrics]]
name = "f1_macro"
column = "F1"
hidden = true
"""


def test_a_tasks_columns_are_the_boards_primary_first_hidden_ones_flagged() -> None:
    task = parse_competition(COMPETITION).tasks[0]
    assert board_columns(task) == [
        BoardColumn(name="AUC", metric="roc_auc", sort="desc", primary=True),
        BoardColumn(name="LogLoss", metric="log_loss", sort="asc", precision=3, tie_break=True),
        BoardColumn(name="accuracy", metric="accuracy", sort="desc", tie_break=True),
        BoardColumn(name="F1", metric="f1_macro", sort="desc", hidden=True),
    ]
    shorthand = parse_competition(COMPETITION.split("[[tasks.metrics]]")[0]).tasks[0]
    assert board_columns(shorthand) == [BoardColumn(name="roc_auc", metric="roc_auc", sort="desc", primary=True)]
    result = board([row(1, "a", {"AUC": 0.9})], columns=board_columns(task))
    assert result.columns == board_columns(task) and result.sort == "desc"


def test_the_primary_column_ranks_and_is_the_lines_score() -> None:
    rows = [row(1, "a", {"AUC": 0.7, "LogLoss": 0.1}), row(2, "b", {"AUC": 0.9, "LogLoss": 0.9}),
            row(3, "a", {"AUC": 0.8, "LogLoss": 0.5})]
    result = board(rows)
    assert [(e.team_id, e.score, e.submission_id) for e in result.public] == [("b", 0.9, 2), ("a", 0.8, 3)]
    assert result.public[1].columns == {"AUC": 0.8, "LogLoss": 0.5}  # the best line's own values


def test_tie_breaks_apply_in_the_order_declared_each_by_its_direction() -> None:
    # All tie on AUC; LogLoss (lower is better) then Acc (higher is better) decide, then the earlier submission.
    rows = [row(1, "a", {"AUC": 0.8, "LogLoss": 0.30, "Acc": 0.70}),
            row(2, "b", {"AUC": 0.8, "LogLoss": 0.20, "Acc": 0.60}),
            row(3, "c", {"AUC": 0.8, "LogLoss": 0.30, "Acc": 0.90}),
            row(4, "d", {"AUC": 0.8, "LogLoss": 0.30, "Acc": 0.90})]
    assert order(board(rows, columns=(AUC, LOGLOSS, ACC))) == ["b", "c", "d", "a"]
    # Acc declared before LogLoss: it decides first.
    assert order(board(rows, columns=(AUC, ACC, LOGLOSS))) == ["c", "d", "a", "b"]
    # A column that is not a tie-break never ranks: the earlier submission decides.
    shown_only = BoardColumn(name="LogLoss", metric="log_loss", sort="asc")
    assert order(board(rows, columns=(AUC, shown_only))) == ["a", "b", "c", "d"]
    # A team's best line is chosen by the same order.
    mine = [row(1, "a", {"AUC": 0.8, "LogLoss": 0.3}), row(2, "a", {"AUC": 0.8, "LogLoss": 0.1})]
    assert board(mine).public[0].submission_id == 2


def test_an_ascending_primary_ranks_lowest_first_with_a_descending_tie_break() -> None:
    primary = BoardColumn(name="LogLoss", metric="log_loss", sort="asc", primary=True)
    tie = BoardColumn(name="AUC", metric="roc_auc", sort="desc", tie_break=True)
    rows = [row(1, "a", {"AUC": 0.6, "LogLoss": 0.2}), row(2, "b", {"AUC": 0.9, "LogLoss": 0.2}),
            row(3, "c", {"AUC": 0.99, "LogLoss": 0.5})]
    result = board(rows, columns=(primary, tie))
    assert [(e.team_id, e.score) for e in result.public] == [("b", 0.2), ("a", 0.2), ("c", 0.5)]
    assert result.sort == "asc"


@pytest.mark.parametrize("sort", ["asc", "desc"])
def test_a_line_lacking_a_tie_break_value_comes_after_the_lines_that_have_one(sort: str) -> None:
    # c's value is the worst there is in the column's direction, and still beats no value (a: absent, b: NaN);
    # the lines without one keep the earlier first.
    tie = BoardColumn(name="Acc", metric="accuracy", sort=sort, tie_break=True)
    worst = -1e9 if sort == "desc" else 1e9
    rows = [row(1, "a", {"AUC": 0.8}), row(2, "b", {"AUC": 0.8, "Acc": math.nan}),
            row(3, "c", {"AUC": 0.8, "Acc": worst}), row(4, "d", {"AUC": 0.8, "Acc": 0.5})]
    assert order(board(rows, columns=(AUC, tie))) == ["d", "c", "a", "b"]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_line_without_a_finite_primary_value_never_ranks(bad: float) -> None:
    rows = [row(1, "a", {"AUC": bad}), row(2, "b", {"AUC": 0.1}), row(3, "c", {"AUC": 0.5}),
            row(4, "c", {"AUC": bad}), old_row(5, "d", bad)]
    result = board(rows)
    assert order(result) == ["c", "b"]  # a and d have nothing that ranks; c's unscored line does not count
    assert [e.team_id for e in result.private] == ["c", "b"]
    assert result.public[0].submissions == 2 and result.scores_counted == 5
    # With an ascending primary, a NaN is still not the best line.
    ascending = BoardColumn(name="AUC", metric="roc_auc", sort="asc", primary=True)
    assert order(board(rows, columns=(ascending,))) == ["b", "c"]


def test_a_non_finite_value_of_another_column_is_left_out_of_the_line() -> None:
    result = board([row(1, "a", {"AUC": 0.9, "LogLoss": math.inf, "Acc": 0.5})])
    assert result.public[0].columns == {"AUC": 0.9, "Acc": 0.5}


def test_the_private_board_ranks_by_the_private_values_and_shows_them() -> None:
    rows = [row(1, "a", {"AUC": 0.9, "LogLoss": 0.1}, {"AUC": 0.7, "LogLoss": 0.4}),
            row(2, "b", {"AUC": 0.8, "LogLoss": 0.2}, {"AUC": 0.7, "LogLoss": 0.3}),
            row(3, "c", {"AUC": 0.7, "LogLoss": 0.3}, {"AUC": 0.75, "LogLoss": 0.9})]
    result = board(rows)
    assert order(result) == ["a", "b", "c"]
    # The public lines show the public values only (a private value reaches no one before the reveal).
    assert [e.columns for e in result.public] == [{"AUC": 0.9, "LogLoss": 0.1}, {"AUC": 0.8, "LogLoss": 0.2},
                                                  {"AUC": 0.7, "LogLoss": 0.3}]
    assert [(e.team_id, e.score, e.columns) for e in result.private] == [
        ("c", 0.75, {"AUC": 0.75, "LogLoss": 0.9}),
        ("b", 0.7, {"AUC": 0.7, "LogLoss": 0.3}),  # ties a on private AUC, lower private LogLoss
        ("a", 0.7, {"AUC": 0.7, "LogLoss": 0.4}),
    ]
    # The default finals are the team's best public lines by the same order (tie-breaks included).
    two = [row(1, "a", {"AUC": 0.8, "LogLoss": 0.5}, {"AUC": 0.1}), row(2, "a", {"AUC": 0.8, "LogLoss": 0.2},
                                                                       {"AUC": 0.2}),
           row(3, "a", {"AUC": 0.7}, {"AUC": 0.99})]
    assert board(two, max_finals=1).private[0].submission_id == 2
    # Among a team's finals, the best private line by the private values: a tie on private AUC goes to the lower
    # private LogLoss, though the public LogLoss says the opposite.
    finals = [row(1, "a", {"AUC": 0.8, "LogLoss": 0.1}, {"AUC": 0.6, "LogLoss": 0.4}),
              row(2, "a", {"AUC": 0.8, "LogLoss": 0.4}, {"AUC": 0.6, "LogLoss": 0.1})]
    assert [(e.submission_id, e.columns["LogLoss"]) for e in board(finals).private] == [(2, 0.1)]
    assert board(two, max_finals=1, finals={"a": frozenset({3})}).private[0].score == 0.99


def test_a_score_from_before_columns_ranks_by_its_score_beside_new_ones() -> None:
    rows = [old_row(1, "a", 0.85, 0.6), row(2, "b", {"AUC": 0.9, "LogLoss": 0.2}, {"AUC": 0.5, "LogLoss": 0.3}),
            old_row(3, "c", 0.8, 0.9)]
    result = board(rows)
    assert [(e.team_id, e.score, e.columns) for e in result.public] == [
        ("b", 0.9, {"AUC": 0.9, "LogLoss": 0.2}), ("a", 0.85, {"AUC": 0.85}), ("c", 0.8, {"AUC": 0.8})]
    assert [(e.team_id, e.score, e.columns) for e in result.private] == [
        ("c", 0.9, {"AUC": 0.9}), ("a", 0.6, {"AUC": 0.6}), ("b", 0.5, {"AUC": 0.5, "LogLoss": 0.3})]


def test_a_board_of_scores_from_before_columns_is_what_it_was() -> None:
    """The board of a one-column task (the shorthand `metric`) from old scores: the same ranks, scores,
    submissions and rank changes as before columns existed; each line's columns hold its score."""
    psnr = BoardColumn(name="psnr", metric="psnr", sort="desc", primary=True)
    rows = [old_row(1, "a", 20, 21), old_row(2, "a", 30, 29), old_row(3, "b", 25, 35), old_row(4, "c", 10, 11)]
    result = board(rows, columns=(psnr,))
    assert [(e.rank, e.team_id, e.score, e.submission_id, e.submissions, e.rank_change, e.columns)
            for e in result.public] == [(1, "a", 30, 2, 2, 0, {"psnr": 30}), (2, "b", 25, 3, 1, 0, {"psnr": 25}),
                                        (3, "c", 10, 4, 1, None, {"psnr": 10})]
    assert [(e.team_id, e.score) for e in result.private] == [("b", 35), ("a", 29), ("c", 11)]
    assert (result.sort, result.scores_counted, result.columns) == ("desc", 4, [psnr])


def test_a_new_primary_column_re_sorts_the_same_rows() -> None:
    """A host makes LogLoss primary (AUC a tie-break): the stored values re-sort the board, nothing is rescored;
    each line's score becomes its LogLoss."""
    rows = [row(1, "a", {"AUC": 0.9, "LogLoss": 0.5}), row(2, "b", {"AUC": 0.8, "LogLoss": 0.2}),
            row(3, "c", {"AUC": 0.7, "LogLoss": 0.2}), row(4, "a", {"AUC": 0.6, "LogLoss": 0.1})]
    assert [(e.team_id, e.score) for e in board(rows).public] == [("a", 0.9), ("b", 0.8), ("c", 0.7)]
    switched = (BoardColumn(name="LogLoss", metric="log_loss", sort="asc", primary=True),
                BoardColumn(name="AUC", metric="roc_auc", sort="desc", tie_break=True))
    result = board(rows, columns=switched)
    assert [(e.team_id, e.score, e.submission_id) for e in result.public] == [
        ("a", 0.1, 4), ("b", 0.2, 2), ("c", 0.2, 3)]  # b and c tie on LogLoss: b's higher AUC


def test_a_board_needs_exactly_one_primary_column() -> None:
    with pytest.raises(ValueError, match="one primary column, not 0"):
        board([], columns=(LOGLOSS,))
    with pytest.raises(ValueError, match="one primary column, not 2"):
        board([], columns=(AUC, BoardColumn(name="X", metric="mae", sort="asc", primary=True)))


values = st.one_of(st.floats(0, 1), st.just(math.nan))
column_values = st.fixed_dictionaries({"AUC": st.sampled_from([0.5, 0.7, 0.9])},
                                      optional={"LogLoss": values, "Acc": st.sampled_from([0.1, 0.2])})
lines = st.lists(
    st.builds(row, st.integers(1, 40), st.sampled_from("abcdef"), column_values, column_values, st.integers(0, 5)),
    max_size=30, unique_by=lambda r: r.submission_id,
)


def _sort_key(entry, column: BoardColumn) -> tuple[int, float]:  # noqa: ANN001
    value = entry.columns.get(column.name, math.nan)
    return (1, 0.0) if math.isnan(value) else (0, -value if column.sort == "desc" else value)


@given(lines, st.randoms(use_true_random=False))
def test_any_order_of_the_same_lines_gives_the_same_board(rows, rng) -> None:  # noqa: ANN001
    shuffled = list(rows)
    rng.shuffle(shuffled)
    assert board(shuffled) == board(rows)


@given(lines)
def test_every_board_is_ordered_by_its_columns_in_turn(rows) -> None:  # noqa: ANN001
    result = board(rows)
    for entries in (result.public, result.private):
        keys = [(-e.score, _sort_key(e, LOGLOSS), _sort_key(e, ACC), e.submitted_at, e.submission_id)
                for e in entries]
        assert keys == sorted(keys)
        assert [e.rank for e in entries] == list(range(1, len(entries) + 1))
