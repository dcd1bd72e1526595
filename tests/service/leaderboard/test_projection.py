"""The projection against the real PostgreSQL: any shuffle or duplication of the same events gives the same
board, and an event applied twice (same stream sequence) is a no-op."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaderboard_service import projection
from leaderboard_service.rebuild import PROJECTION_TABLES
from podium_runtime.migrations import apply_migrations, service_migrations
from proto.competition import Task
from proto.events import FinalsSelected, ScoreComputed, TeamCreated, TeamStandingChanged, TeamUpdated

TASK = Task(id="proj", title="t", kind="cpu", metric="psnr", scorer_version="v1", shape=(1,), ground_truth="x")
T0 = datetime(2026, 11, 1, tzinfo=UTC)
TABLES = PROJECTION_TABLES


def score(submission: int, team: int, public: float, private: float, minute: int) -> ScoreComputed:
    return ScoreComputed(submission_id=str(submission), team_id=str(team), task_id=TASK.id, scorer_version="v1",
                         public_score=public, private_score=private, submitted_at=T0 + timedelta(minutes=minute))


events = st.lists(
    st.one_of(
        st.builds(score, st.integers(1, 30), st.integers(1, 4), st.floats(0, 60), st.floats(0, 60),
                  st.integers(0, 50)),
        st.builds(lambda team, rev: (TeamCreated if rev == 1 else TeamUpdated)(
            team_id=str(team), name=f"team-{team}-r{rev}", revision=rev), st.integers(1, 4), st.integers(1, 3)),
        st.builds(lambda team, rev, hidden: TeamStandingChanged(
            team_id=str(team), hidden=hidden, disqualified=False, revision=rev, actor="admin"),
            st.integers(1, 4), st.integers(1, 3), st.booleans()),
        st.builds(lambda team, rev, sub: FinalsSelected(
            team_id=str(team), task_id=TASK.id, submission_ids=(str(sub),), revision=rev, actor="t"),
            st.integers(1, 4), st.integers(1, 3), st.integers(1, 30)),
    ),
    max_size=25,
).map(lambda evs: [e for i, e in enumerate(evs) if not any(  # one event per identity, as JetStream dedup ensures
    prev.msg_id() == e.msg_id() for prev in evs[:i])])


@pytest.fixture(scope="module")
async def migrated(pg_pool: asyncpg.Pool) -> asyncpg.Pool:
    async with pg_pool.acquire() as conn:
        await apply_migrations(conn, projection.SCHEMA, service_migrations("leaderboard_service"))
    return pg_pool


@asynccontextmanager
async def empty_projection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A private, rolled-back, empty copy of the projection: the live service's is left alone."""
    tables = f"{TABLES}, leaderboard.lost_history"
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
            await conn.execute(f"TRUNCATE {tables}")
            yield conn
        finally:
            await transaction.rollback()


async def board_from(pool: asyncpg.Pool, sequence: list) -> object:
    """Apply the events in this order into an empty projection and read the board."""
    async with empty_projection(pool) as conn:
        for seq, event in enumerate(sequence, start=1):
            await projection.apply(conn, event, stream="test", seq=seq)
        return await projection.board(conn, TASK)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events, st.randoms(use_true_random=False), st.integers(0, 5))
async def test_any_shuffle_or_duplication_of_events_gives_the_same_board(
    migrated: asyncpg.Pool, sequence: list, rng: random.Random, duplicates: int
) -> None:
    reference = await board_from(migrated, sequence)
    replayed = sequence + [rng.choice(sequence) for _ in range(duplicates if sequence else 0)]
    rng.shuffle(replayed)
    assert await board_from(migrated, replayed) == reference


async def test_a_stream_sequence_is_applied_once(migrated: asyncpg.Pool) -> None:
    async with empty_projection(migrated) as conn:
        assert await projection.claim(conn, "SCORES", 5) == 5
        assert await projection.claim(conn, "SCORES", 5) is None
        assert await projection.claim(conn, "SCORES", 3) is None
        assert await projection.claim(conn, "SCORES", 6) == 6


async def test_a_stream_created_again_after_a_wiped_store_is_read_after_everything_applied(
        migrated: asyncpg.Pool) -> None:
    """Its messages count from 1 again: they are applied (at positions after the old ones, so the audit trail's
    keys stay unique), their redeliveries are still no-ops, and the lost history is recorded for the rebuild."""
    async with empty_projection(migrated) as conn:
        assert await projection.claim(conn, "BOARD", 40) == 40
        assert await projection.claim(conn, "SCORES", 7) == 7
        await projection.stream_started_again(conn, ["BOARD"])
        assert await projection.claim(conn, "BOARD", 1) == 41
        assert await projection.claim(conn, "BOARD", 1) is None
        assert await projection.claim(conn, "BOARD", 2) == 42
        assert await projection.claim(conn, "SCORES", 1) is None  # not wiped: its guard is unchanged
        lost = await conn.fetch("SELECT stream, last_seq FROM leaderboard.lost_history")
        assert [tuple(row) for row in lost] == [("BOARD", 40)]
