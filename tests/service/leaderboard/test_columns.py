"""Boards with several columns against the real PostgreSQL and NATS: old score events (the golden payloads) still
build the boards they built, a submission that could not be scored never ranks, non-finite values are stored and
never rank, a rebuild from a stream of old and new score events gives the board the live path gave, and the running
service writes boards with every column to the `leaderboards` bucket, re-sorting them from the stored values when
the host makes another computed column primary (no rescore)."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import msgspec
import nats
import pytest
from nats.js.kv import KeyValue
from pydantic import SecretStr

import proto
from leaderboard_service import projection
from leaderboard_service.app import create_app
from leaderboard_service.bootstrap import LeaderboardServiceSettings
from leaderboard_service.handlers import LeaderboardHandlers
from leaderboard_service.rebuild import rebuild
from podium_runtime.connections import ensure_kv_buckets, ensure_streams
from podium_runtime.publish import publish_event
from podium_runtime.settings import ServiceSettings
from proto.competition import Competition, CompetitionVersion, parse_competition
from proto.events import AnyEvent, ScoreComputed, ScoreFailed, TeamCreated
from proto.leaderboard import Board, BoardColumn, Entry
from proto.streams import COMPETITION_KV, LEADERBOARDS
from tests.service.leaderboard.test_projection import OneConnection, RecordedBoards, empty_projection
from tests.unit.fakes import current_competition

GOLDEN = Path(__file__).parents[2] / "unit" / "proto" / "golden"
T0 = datetime(2026, 11, 30, tzinfo=UTC)
METRICS = {"AUC": "roc_auc", "LogLoss": "log_loss"}


def churn(primary: str) -> Competition:
    """A csv task whose columns are AUC and LogLoss, `primary` of them primary and the other its tie-break, and a
    hidden Acc."""
    flags = {header: "primary = true" if header == primary else "tie_break = true" for header in METRICS}
    return parse_competition(f"""
[competition]
name = "Columns"

[[tasks]]
id = "churn"
title = "Churn"
kind = "cpu"
format = "csv"
metric = "{METRICS[primary]}"
ground_truth = "churn/solution.csv"
[[tasks.metrics]]
name = "roc_auc"
column = "AUC"
{flags["AUC"]}
[[tasks.metrics]]
name = "log_loss"
column = "LogLoss"
{flags["LogLoss"]}
[[tasks.metrics]]
name = "accuracy"
column = "Acc"
hidden = true
""")


CHURN = churn(primary="AUC")
# The host makes LogLoss primary, AUC its tie-break: both computed already.
SWITCHED = churn(primary="LogLoss")
TASK = CHURN.tasks[0]


def golden(name: str, **changes: object) -> ScoreComputed:
    """A golden score event, with what the projection needs changed (its submission ids are digits)."""
    event = proto.decode((GOLDEN / name).read_bytes())
    assert isinstance(event, ScoreComputed)
    return msgspec.structs.replace(event, **changes)


def scored(submission: int, team: int, public: dict[str, float] | float, private: dict[str, float] | None = None,
           minute: int = 0) -> ScoreComputed:
    """A score of `TASK`: with columns (a dict), or a float alone as scorers sent before columns."""
    columns = isinstance(public, dict)
    public_columns = public if isinstance(public, dict) else {}
    private_columns = (public_columns if private is None else private) if columns else {}
    primary = public_columns.get("AUC", math.nan) if columns else public
    return ScoreComputed(
        submission_id=str(submission), team_id=str(team), task_id=TASK.id, scorer_version=TASK.scorer_version,
        public_score=primary, private_score=private_columns.get("AUC", primary) if columns else primary,
        submitted_at=T0 + timedelta(minutes=minute), public_columns=public_columns, private_columns=private_columns)


def lines(board: Board, side: str = "public") -> list[tuple[str, float, dict[str, float]]]:
    return [(e.team_id, e.score, e.columns) for e in getattr(board, side)]


# --- the projection ------------------------------------------------------------------------------------------


async def test_the_old_golden_score_event_builds_the_board_it_built(migrated: asyncpg.Pool) -> None:
    """A score from before columns on a task of one column (the shorthand `metric = "psnr"`): the line it made,
    its score shown as the one column's value; beside it the new golden event on a task with columns."""
    recon = parse_competition('[competition]\nname = "x"\n[[tasks]]\nid = "reconstruction"\ntitle = "r"\nkind = "cpu"'
                              '\nmetric = "psnr"\nshape = [1]\nground_truth = "g"\n').tasks[0]
    old = golden("score.computed.v1.json", submission_id="1")
    new = golden("score.computed.v1+columns.json", submission_id="2", task_id=TASK.id)
    async with empty_projection(migrated) as conn:
        for seq, event in enumerate((old, new), start=1):
            await projection.apply(conn, event, stream="SCORES", seq=seq)
        before_columns = await projection.board(conn, recon)
        with_columns = await projection.board(conn, TASK)
    assert before_columns == Board(
        task_id="reconstruction", sort="desc", private_revealed=False, scores_counted=1,
        public=[Entry(rank=1, team_id="team-a", team_name="team team-a", score=31.5, submission_id=1,
                      submitted_at=old.submitted_at, submissions=1, last_submission_at=old.submitted_at,
                      columns={"psnr": 31.5})],
        private=[Entry(rank=1, team_id="team-a", team_name="team team-a", score=30.25, submission_id=1,
                       submitted_at=old.submitted_at, submissions=1, last_submission_at=old.submitted_at,
                       columns={"psnr": 30.25})],
        columns=[BoardColumn(name="psnr", metric="psnr", sort="desc", primary=True)])
    assert lines(with_columns) == [("team-b", 0.9125, {"AUC": 0.9125, "LogLoss": 0.3125, "Acc": 0.875})]
    assert lines(with_columns, "private") == [("team-b", 0.8875, {"AUC": 0.8875, "LogLoss": 0.34375, "Acc": 0.8125})]
    assert with_columns.columns == [
        BoardColumn(name="AUC", metric="roc_auc", sort="desc", primary=True),
        BoardColumn(name="LogLoss", metric="log_loss", sort="asc", tie_break=True),
        BoardColumn(name="Acc", metric="accuracy", sort="desc", hidden=True)]


async def test_a_submission_that_could_not_be_scored_never_ranks(migrated: asyncpg.Pool) -> None:
    """A failed outcome is no line; a score whose primary value is not a number (no scorer sends one, the board
    guards anyway) is stored, counted, and never ranked; a non-finite value of another column is left out."""
    events = [
        scored(1, 1, {"AUC": 0.7, "LogLoss": 0.5}),
        ScoreFailed(submission_id="2", team_id="2", task_id=TASK.id, scorer_version=TASK.scorer_version,
                    reason="3 ids are missing"),
        scored(3, 3, {"AUC": math.nan, "LogLoss": 0.1}),
        scored(4, 4, math.nan),
        scored(5, 5, {"AUC": 0.6, "LogLoss": math.inf, "Acc": -math.inf}),
    ]
    async with empty_projection(migrated) as conn:
        for seq, event in enumerate(events, start=1):
            await projection.apply(conn, event, stream="SCORES", seq=seq)
        board = await projection.board(conn, TASK)
        stored = await conn.fetchval("SELECT public_columns::text FROM leaderboard.scores WHERE submission_id = 5")
    assert lines(board) == [("1", 0.7, {"AUC": 0.7, "LogLoss": 0.5}), ("5", 0.6, {"AUC": 0.6})]
    assert [e.team_id for e in board.private] == ["1", "5"]
    assert board.scores_counted == 4  # the failed submission has no score; the NaN ones are scores that never rank
    assert msgspec.json.decode(stored) == {"AUC": 0.6, "LogLoss": None, "Acc": None}


async def test_a_rebuild_from_old_and_new_score_events_gives_the_live_board(
        migrated: asyncpg.Pool, private_nats: str) -> None:
    """Scores from before columns and with them, one stream: applied live one by one, or copied in bulk by a
    rebuild, the same board — ranked by AUC, then LogLoss (a score from before columns has none: it comes after)."""
    events: list[tuple[str, AnyEvent]] = [
        ("TEAMS", TeamCreated(team_id="1", name="old timers", revision=1)),
        ("TEAMS", TeamCreated(team_id="2", name="newcomers", revision=1)),
        ("SCORES", scored(1, 1, 0.85, minute=0)),
        ("SCORES", scored(2, 2, {"AUC": 0.85, "LogLoss": 0.3, "Acc": 0.8}, minute=1)),
        ("SCORES", scored(3, 3, {"AUC": 0.85, "LogLoss": 0.2, "Acc": 0.7}, {"AUC": 0.9, "LogLoss": 0.4}, minute=2)),
        ("SCORES", scored(4, 1, 0.6, minute=3)),
        ("SCORES", ScoreFailed(submission_id="5", team_id="4", task_id=TASK.id, scorer_version=TASK.scorer_version,
                               reason="not a CSV")),
    ]
    async with empty_projection(migrated) as conn:
        handlers = LeaderboardHandlers(competition=current_competition(CHURN), pool=OneConnection(conn).as_pool(),
                                       boards=RecordedBoards())  # type: ignore[arg-type]
        for seq, (stream, event) in enumerate(events, start=1):
            await handlers.on_event(stream, seq, event)
        live = await projection.board(conn, TASK)
    assert [(e.team_name, e.score, e.submission_id) for e in live.public] == [
        ("team 3", 0.85, 3), ("newcomers", 0.85, 2), ("old timers", 0.85, 1)]
    assert [(e.team_id, e.score) for e in live.private] == [("3", 0.9), ("2", 0.85), ("1", 0.85)]

    client = await nats.connect(private_nats)
    try:
        js = client.jetstream()
        await ensure_streams(js)
        for _, event in events:
            await publish_event(js, event)
        async with empty_projection(migrated) as conn:
            await rebuild(OneConnection(conn).as_pool(), js, CHURN)
            rebuilt = await projection.board(conn, TASK)
    finally:
        await client.close()
    assert rebuilt == live


# --- the running service ---------------------------------------------------------------------------------------


@pytest.fixture
async def private_database(pg_pool: asyncpg.Pool, settings: ServiceSettings, unique: str) -> AsyncIterator[str]:
    """A database of the test's own in the session's PostgreSQL: a running leaderboard records what it applied from
    its NATS server, which must not meet the session's leaderboard's records."""
    name = f"board_{unique}"
    await pg_pool.execute(f"CREATE DATABASE {name}")
    try:
        yield settings.postgres_dsn.get_secret_value().rsplit("/", 1)[0] + f"/{name}"
    finally:
        await pg_pool.execute(f"DROP DATABASE {name} WITH (FORCE)")


def version(number: int, competition: Competition) -> bytes:
    return msgspec.json.encode(CompetitionVersion(version=number, competition=competition, created_at=T0,
                                                  created_by="host"))


async def board_until(boards: KeyValue, check: Callable[[Board], bool]) -> Board:
    """The first board of `TASK` in the bucket (from the one there now on) that passes `check`."""
    watcher = await boards.watch(TASK.id)
    try:
        async with asyncio.timeout(60):
            while True:
                entry = await watcher.updates(timeout=60)
                if isinstance(entry, KeyValue.Entry) and entry.value:  # None: the end of the values there were
                    board = msgspec.json.decode(entry.value, type=Board)
                    if check(board):
                        return board
    finally:
        await watcher.stop()


async def test_the_service_ranks_by_columns_and_re_sorts_when_the_host_changes_the_primary(
        private_nats: str, private_database: str) -> None:
    client = await nats.connect(private_nats)
    js = client.jetstream()
    await ensure_streams(js)
    await ensure_kv_buckets(js)
    competition = await js.key_value(COMPETITION_KV.name)
    await competition.put("current", version(1, CHURN))
    settings = LeaderboardServiceSettings(nats_url=private_nats, postgres_dsn=SecretStr(private_database),
                                          outbox_poll_s=0.2)
    try:
        async with contextlib.AsyncExitStack() as running:
            await running.enter_async_context(create_app(settings))
            boards = await js.key_value(LEADERBOARDS.name)
            for event in (TeamCreated(team_id="1", name="one", revision=1),
                          TeamCreated(team_id="2", name="two", revision=1),
                          scored(1, 1, {"AUC": 0.9, "LogLoss": 0.4, "Acc": 0.6}, minute=0),
                          scored(2, 2, {"AUC": 0.9, "LogLoss": 0.3, "Acc": 0.5}, minute=1),
                          scored(3, 3, {"AUC": 0.8, "LogLoss": 0.1, "Acc": 0.9}, minute=2)):
                await publish_event(js, event)
            # Teams and scores come on two streams: wait for the board that has applied both (the names too).
            board = await board_until(boards, lambda b: b.scores_counted == 3
                                      and {e.team_name for e in b.public} == {"one", "two", "team 3"})
            assert [(e.team_name, e.score) for e in board.public] == [("two", 0.9), ("one", 0.9), ("team 3", 0.8)]
            # The hidden column is in the service's copy; the gateway strips it for everyone but admins.
            assert board.public[0].columns == {"AUC": 0.9, "LogLoss": 0.3, "Acc": 0.5}
            assert board.columns == [
                BoardColumn(name="AUC", metric="roc_auc", sort="desc", primary=True),
                BoardColumn(name="LogLoss", metric="log_loss", sort="asc", tie_break=True),
                BoardColumn(name="Acc", metric="accuracy", sort="desc", hidden=True)]
            scores_before = (await js.stream_info("SCORES")).state.messages

            await competition.put("current", version(2, SWITCHED))
            switched = await board_until(boards, lambda b: b.sort == "asc")
            assert [(e.team_id, e.score, e.submission_id) for e in switched.public] == [
                ("3", 0.1, 3), ("2", 0.3, 2), ("1", 0.4, 1)]
            assert [(c.name, c.primary, c.tie_break) for c in switched.columns] == [
                ("LogLoss", True, False), ("AUC", False, True), ("Acc", False, False)]
            assert switched.scores_counted == 3
            assert (await js.stream_info("SCORES")).state.messages == scores_before  # nothing was scored again
    finally:
        await client.close()
