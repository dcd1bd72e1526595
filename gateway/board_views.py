"""A board as one viewer may see it: hosts see every column; everyone else sees a board without its hidden columns,
neither in `Board.columns` nor in any line's `columns` (public or private). Every route and push that sends a board
goes through `for_viewer`."""

from __future__ import annotations

import msgspec

from proto.leaderboard import Board, Entry


def for_viewer(board: Board, admin: bool) -> Board:
    """`board` for an admin (as it is) or anyone else: only the columns the board declares visible are kept, so a
    value under a header the board does not declare (or declares hidden) never reaches a non-admin."""
    if admin:
        return board
    visible = [column for column in board.columns if not column.hidden]
    shown = {column.name for column in visible}
    if len(visible) == len(board.columns) and all(
            entry.columns.keys() <= shown for entry in (*board.public, *board.private)):
        return board  # nothing to take out (a board with no hidden column): no copy
    return msgspec.structs.replace(board, columns=visible, public=_lines(board.public, shown),
                                   private=_lines(board.private, shown))


def _lines(entries: list[Entry], shown: set[str]) -> list[Entry]:
    return [entry if entry.columns.keys() <= shown
            else msgspec.structs.replace(entry, columns={k: v for k, v in entry.columns.items() if k in shown})
            for entry in entries]


def column_headers(board: Board) -> list[str]:
    """The board's column headers in display order (the primary one first)."""
    return [column.name for column in board.columns]
