"""A board's columns in the `podium` CLI: `podium leaderboard` shows one column per header with its precision (the
one that ranks marked), kept current from whole boards and deltas; `podium tasks` lists each task's columns with
their definitions. Against the real platform, a team and a visitor see no hidden column; an admin does."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import nats
from litestar.testing import AsyncTestClient
from rich.console import Console

from podium_cli import tables
from podium_cli.live import LiveBoard
from podium_runtime.settings import ServiceSettings
from proto.leaderboard import Board
from proto.live import BoardDeltaMessage, BoardMessage
from proto.submissions import TaskColumn
from tests.api import edit_competition, remove_tasks
from tests.boards import HIDDEN, board_loaded, columns_board, columns_task_fields, delete_board, line, put_board
from tests.cli.podium_runner import Cli, Team, ok

NOW = datetime(2026, 11, 2, tzinfo=UTC)


def rendered(*parts: Any) -> str:
    console = Console(width=160, record=True, color_system=None)
    for part in parts:
        console.print(part)
    return console.export_text()


def rest(board: Board) -> dict[str, Any]:
    """A board as the REST route answers an admin (every column; the private side too)."""
    return msgspec.to_builtins(board)


BOARD = columns_board("churn", [line("1", 1, 0.912347, 0.3, 0.61), line("2", 2, 0.8, 0.41234, 0.62)], [])


def test_a_board_has_a_column_per_header_with_its_precision_and_the_primary_marked() -> None:
    text = rendered(tables.board_table(rest(BOARD)))
    header = next(row for row in text.splitlines() if "team" in row and "rank" in row)
    assert header.index("AUC *") < header.index("LogLoss") < header.index(HIDDEN) < header.index("submissions")
    assert "0.91235" in text and "0.412" in text and "0.6100" in text  # 5, 3 and 4 decimals
    assert "churn — public leaderboard (ranked by AUC, higher is better)" in text
    assert "* ranks the board (higher is better)" in text


def test_a_board_of_one_column_shows_it_as_the_score_with_its_precision() -> None:
    single = msgspec.structs.replace(BOARD, columns=BOARD.columns[:1])
    text = rendered(tables.board_table(rest(single)))
    assert "score" in text and "AUC" not in text and "0.91235" in text and "ranked by" not in text


def test_a_live_board_keeps_its_columns_and_their_values_current() -> None:
    board = LiveBoard({"task_id": "churn", "revision": 0, "public": [], "private": None})
    whole = BoardMessage(task_id="churn", revision=1, sort="desc", private_revealed=False, public=BOARD.public,
                         private=None, columns=BOARD.columns[:2])
    assert board.apply(whole)
    assert [c["name"] for c in board.board["columns"]] == ["AUC", "LogLoss"]
    changed = line("2", 1, 0.95, 0.2, 0.62)
    assert board.apply(BoardDeltaMessage(task_id="churn", revision=2, base_revision=1, private_revealed=False,
                                         changed=[changed], moved=[("1", 2, -1)], removed=[]))
    text = rendered(tables.board_table(board.board))
    assert text.index("0.95000") < text.index("0.91235") and "0.200" in text and HIDDEN not in text


def test_the_task_view_lists_each_column_with_its_definition() -> None:
    columns = [TaskColumn(header="AUC", metric="roc_auc", direction="desc", definition="Area under the ROC curve.",
                          precision=5, primary=True),
               TaskColumn(header="LogLoss", metric="log_loss", direction="asc", definition="Mean negative log.",
                          precision=3, tie_break=True)]
    task = {"id": "churn", "title": "Churn", "kind": "cpu", "metric": "roc_auc", "sort": "desc", "daily_quota": 5,
            "max_upload_bytes": 1_000_000, "aliases": [], "phases": [], "expected_format": "a CSV",
            "columns": msgspec.to_builtins(columns)}
    text = rendered(tables.task_view([task], NOW))
    assert "AUC (roc_auc, higher is better, ranks the board, 5 decimals): Area under the ROC curve." in text
    assert "LogLoss (log_loss, lower is better, breaks ties, 3 decimals): Mean negative log." in text


async def test_the_cli_shows_the_columns_and_a_hidden_one_to_admins_only(
    gateway: AsyncTestClient, admin_token: str, settings: ServiceSettings, make_cli: Callable[[], Cli],
    make_team: Callable[[], Any], admin_cli: Cli,
) -> None:
    team: Team = await make_team()
    task = columns_task_fields()
    await edit_competition(gateway, admin_token, lambda competition: competition["tasks"].append(task))
    # The board under a key the leaderboard service never writes: what the CLI shows is what this test wrote.
    board_key = f"cols-{uuid.uuid4().hex[:8]}"
    nc = await nats.connect(settings.nats_url, **settings.nats_auth)
    try:
        await put_board(nc, columns_board(board_key, BOARD.public, []))
        await board_loaded(gateway, board_key, admin_token)
        for podium in (team.cli, make_cli()):
            shown = ok(await podium("leaderboard", board_key))
            assert "AUC *" in shown and "LogLoss" in shown and "0.91235" in shown and HIDDEN not in shown
            tasks = ok(await podium("tasks"))
            assert "AUC (roc_auc, higher is better, ranks the board, 5 decimals)" in tasks and HIDDEN not in tasks
        admins = ok(await admin_cli("leaderboard", board_key))
        assert HIDDEN in admins and "0.6100" in admins
        assert f"{HIDDEN} (average_precision, higher is better, hidden: hosts only" in ok(await admin_cli("tasks"))
    finally:
        await delete_board(nc, board_key)
        await nc.drain()
        await remove_tasks(gateway, admin_token, [task["id"]])
