"""A board as each viewer may see it (`gateway.board_views.for_viewer`): an admin sees every column; anyone else
sees neither a hidden column nor any value under a header the board does not declare visible, on either split."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.board_views import column_headers, for_viewer
from proto.leaderboard import Board, BoardColumn, Entry

AT = datetime(2026, 11, 1, tzinfo=UTC)
COLUMNS = [BoardColumn(name="AUC", metric="roc_auc", sort="desc", primary=True),
           BoardColumn(name="LogLoss", metric="log_loss", sort="asc", precision=3),
           BoardColumn(name="HostOnlyAP", metric="average_precision", sort="desc", hidden=True)]


def entry(team: str, rank: int, auc: float, log_loss: float, ap: float) -> Entry:
    return Entry(rank=rank, team_id=team, team_name=team, score=auc, submission_id=rank, submitted_at=AT,
                 submissions=1, last_submission_at=AT,
                 columns={"AUC": auc, "LogLoss": log_loss, "HostOnlyAP": ap})


BOARD = Board(task_id="churn", sort="desc", public=[entry("a", 1, 0.9, 0.3, 0.61), entry("b", 2, 0.8, 0.4, 0.62)],
              private=[entry("a", 1, 0.85, 0.35, 0.63)], private_revealed=False, scores_counted=2, columns=COLUMNS)


def test_an_admin_sees_the_board_as_it_is() -> None:
    assert for_viewer(BOARD, admin=True) is BOARD


def test_anyone_else_sees_no_hidden_column_on_either_split() -> None:
    seen = for_viewer(BOARD, admin=False)
    assert column_headers(seen) == ["AUC", "LogLoss"]
    assert [e.columns for e in seen.public] == [{"AUC": 0.9, "LogLoss": 0.3}, {"AUC": 0.8, "LogLoss": 0.4}]
    assert [e.columns for e in seen.private] == [{"AUC": 0.85, "LogLoss": 0.35}]
    assert [(e.score, e.rank) for e in seen.public] == [(0.9, 1), (0.8, 2)]  # the rest of a line is untouched


def test_a_value_under_a_header_the_board_does_not_declare_is_taken_out_too() -> None:
    """Fail closed: a line whose columns name a header the board does not list (an older board without `columns`,
    a header renamed) shows a non-admin nothing of it."""
    undeclared = Board(task_id="churn", sort="desc", public=[entry("a", 1, 0.9, 0.3, 0.61)], private=[],
                       private_revealed=False, scores_counted=1)
    assert for_viewer(undeclared, admin=False).public[0].columns == {}
    assert for_viewer(undeclared, admin=True).public[0].columns == {"AUC": 0.9, "LogLoss": 0.3, "HostOnlyAP": 0.61}


def test_a_board_without_hidden_columns_is_not_copied() -> None:
    plain = Board(task_id="churn", sort="desc", public=[entry("a", 1, 0.9, 0.3, 0.61)], private=[],
                  private_revealed=False, scores_counted=1,
                  columns=[*COLUMNS[:2], BoardColumn(name="HostOnlyAP", metric="average_precision", sort="desc")])
    assert for_viewer(plain, admin=False) is plain
