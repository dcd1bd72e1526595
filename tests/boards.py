"""A task whose boards have several columns, one of them hidden, and its board written into the `leaderboards` KV
bucket the way the leaderboard service writes it: what the gateway's surfaces (routes, sockets, the web page, the
CLI) show of columns is tested without waiting for anything to be scored."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
from nats.aio.client import Client as NatsClient

from proto.leaderboard import Board, BoardColumn, Entry
from proto.streams import LEADERBOARDS_KV
from tests.api import bearer, new_task_fields

HIDDEN = "HostOnlyAP"
# `[[tasks.metrics]]` of the task: AUC ranks, LogLoss is shown (3 digits) and breaks ties, HostOnlyAP is the hosts'.
METRICS = [{"name": "roc_auc", "column": "AUC", "primary": True, "precision": 5},
           {"name": "log_loss", "column": "LogLoss", "precision": 3, "tie_break": True},
           {"name": "average_precision", "column": HIDDEN, "hidden": True}]
COLUMNS = [BoardColumn(name="AUC", metric="roc_auc", sort="desc", precision=5, primary=True),
           BoardColumn(name="LogLoss", metric="log_loss", sort="asc", precision=3, tie_break=True),
           BoardColumn(name=HIDDEN, metric="average_precision", sort="desc", hidden=True)]
AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def columns_task_fields(**fields: Any) -> dict[str, Any]:
    """A csv task of the test's own with the three columns (no ground truth: nothing is scored)."""
    task = new_task_fields(format="csv", metric="roc_auc", metrics=METRICS, **fields)
    del task["samples"], task["shape"]
    return task


def line(team: str, rank: int, auc: float, log_loss: float, hidden: float) -> Entry:
    """A board line: `score` is the primary column's (AUC)."""
    return Entry(rank=rank, team_id=team, team_name=f"team {team}", score=auc, submission_id=rank, submitted_at=AT,
                 submissions=2, last_submission_at=AT, columns={"AUC": auc, "LogLoss": log_loss, HIDDEN: hidden})


def columns_board(task_id: str, public: list[Entry], private: list[Entry]) -> Board:
    return Board(task_id=task_id, sort="desc", public=public, private=private, private_revealed=False,
                 scores_counted=len(public), columns=COLUMNS)


async def put_board(nc: NatsClient, board: Board) -> int:
    """Write `board` as the leaderboard service does; answers its revision."""
    kv = await nc.jetstream().key_value(LEADERBOARDS_KV)
    return await kv.put(board.task_id, msgspec.json.encode(board))


async def delete_board(nc: NatsClient, task_id: str) -> None:
    kv = await nc.jetstream().key_value(LEADERBOARDS_KV)
    await kv.delete(task_id)


async def board_loaded(client: httpx.AsyncClient, task_id: str, admin_token: str) -> dict[str, Any]:
    """Wait until the gateway has the board under `task_id` (its copy of the bucket follows it within moments)."""
    async with asyncio.timeout(30):
        while True:
            response = await client.get(f"/api/v1/leaderboards/{task_id}", headers=bearer(admin_token))
            if response.status_code == 200:
                return response.json()
            await asyncio.sleep(0.1)
