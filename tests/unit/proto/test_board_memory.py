"""A board's lines are not tracked by the garbage collector (`gc=False`): a gateway keeps each task's recent
revisions, tens of thousands of lines, and full collections walked them all. That is safe only while a line can never
be part of a reference cycle: it holds scalars and a dict of floats, and nothing else."""

from __future__ import annotations

import gc
from datetime import UTC, datetime

import msgspec

from proto.leaderboard import Board, BoardColumn, Entry

AT = datetime(2026, 11, 30, tzinfo=UTC)
# What a line and a column may hold: none of these can refer back to a line.
ACYCLIC = (msgspec.inspect.StrType, msgspec.inspect.IntType, msgspec.inspect.FloatType, msgspec.inspect.BoolType,
           msgspec.inspect.DateTimeType, msgspec.inspect.NoneType)


def _scalar(kind: msgspec.inspect.Type) -> bool:
    if isinstance(kind, msgspec.inspect.UnionType):
        return all(_scalar(member) for member in kind.types)
    if isinstance(kind, msgspec.inspect.DictType):
        return _scalar(kind.key_type) and _scalar(kind.value_type)
    return isinstance(kind, ACYCLIC)


def test_a_decoded_boards_lines_and_columns_are_untracked_its_lists_are_not() -> None:
    entry = Entry(rank=1, team_id="7", team_name="seven", score=0.9, submission_id=3, submitted_at=AT, submissions=2,
                  last_submission_at=AT, rank_change=1, columns={"accuracy": 0.9})
    board = Board(task_id="t", sort="desc", public=[entry], private=[entry], private_revealed=False, scores_counted=2,
                  columns=[BoardColumn(name="accuracy", metric="accuracy", sort="desc", primary=True)])
    decoded = msgspec.json.decode(msgspec.json.encode(board), type=Board)
    assert decoded == board
    assert not gc.is_tracked(decoded.public[0]) and not gc.is_tracked(decoded.columns[0])
    assert not gc.is_tracked(decoded.public[0].columns), "a dict of floats stays untracked"
    assert gc.is_tracked(decoded.public) and gc.is_tracked(decoded)


def test_a_line_and_a_column_hold_only_values_that_cannot_refer_back() -> None:
    for struct in (Entry, BoardColumn):
        info = msgspec.inspect.type_info(struct)
        assert isinstance(info, msgspec.inspect.StructType)
        assert all(_scalar(field.type) for field in info.fields), (
            f"{struct.__name__} gained a field that may hold an object: drop gc=False or keep it a value")
