"""The projection against the real PostgreSQL: any shuffle or duplication of the same events gives the same
board, an event applied twice (same stream sequence) is a no-op, a malformed event is skipped (live and by a
rebuild, which reports it) without stopping the others, and a task whose scoring identity changed keeps its scores
on the board until a rescore completes."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import cast

import asyncpg
import msgspec
import nats
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaderboard_service import projection
from leaderboard_service.handlers import LeaderboardHandlers
from leaderboard_service.rebuild import PROJECTION_TABLES, rebuild
from podium_runtime.connections import PgConnection, ensure_streams
from podium_runtime.publish import publish_event
from proto.competition import Competition, Task
from proto.events import (
    FinalsSelected,
    RescoreRequested,
    ScoreComputed,
    ScoreFailed,
    SubmissionCancelled,
    TeamCreated,
    TeamStandingChanged,
    TeamUpdated,
)
from tests.unit.fakes import current_competition

TASK = Task(id="proj", title="t", kind="cpu", metric="psnr", shape=(1,), ground_truth="x")
T0 = datetime(2026, 11, 1, tzinfo=UTC)
TABLES = PROJECTION_TABLES


def score(submission: int, team: int, public: float, private: float, minute: int, version: str = "v1"
          ) -> ScoreComputed:
    return ScoreComputed(submission_id=str(submission), team_id=str(team), task_id=TASK.id, scorer_version=version,
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


@asynccontextmanager
async def empty_projection(pool: asyncpg.Pool) -> AsyncIterator[PgConnection]:
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


async def test_a_team_change_names_only_the_boards_the_team_is_on(migrated: asyncpg.Pool) -> None:
    """A new team is on no board, so registering it recomputes none, however many tasks there are; a renamed or
    hidden team's boards are the tasks it has scores in."""
    other = msgspec.structs.replace(score(2, 2, 10.0, 10.0, 1), task_id="other")
    async with empty_projection(migrated) as conn:
        created = TeamCreated(team_id="1", name="one", revision=1)
        assert await projection.apply(conn, created, stream="T", seq=1) == set()
        await projection.apply(conn, score(1, 1, 30.0, 29.0, 0), stream="S", seq=1)
        await projection.apply(conn, other, stream="S", seq=2)
        renamed = TeamUpdated(team_id="1", name="uno", revision=2)
        assert await projection.apply(conn, renamed, stream="T", seq=2) == {TASK.id}
        hidden = TeamStandingChanged(team_id="2", hidden=True, disqualified=False, revision=1, actor="admin")
        assert await projection.apply(conn, hidden, stream="B", seq=1) == {"other"}


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


# --- malformed events -------------------------------------------------------------------------------------


class OneConnection:
    """A pool of one connection, already inside the test's transaction: what the code under test commits is a
    savepoint, rolled back with the test's transaction."""

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[PgConnection]:
        yield self.conn

    def as_pool(self) -> asyncpg.Pool:
        """Typed as the pool it stands in for (the code under test only acquires from it)."""
        return cast(asyncpg.Pool, self)


def failed(submission_id: str) -> ScoreFailed:
    return ScoreFailed(submission_id=submission_id, team_id="1", task_id=TASK.id, scorer_version="v1",
                       reason="task 'x' is not a CPU task of this competition")


@pytest.mark.parametrize("submission_id", ["crashed-1a2b", "", "12 ", "-3", "1_000", "٣", str(2**63), "9" * 5000])
def test_only_a_bigint_is_a_submission_id(submission_id: str) -> None:
    with pytest.raises(projection.MalformedEvent, match="is not a 64-bit integer"):
        projection.check(failed(submission_id))
    assert projection.submission_number(str(2**63 - 1)) == 2**63 - 1


async def test_a_rebuild_skips_and_reports_malformed_events(migrated: asyncpg.Pool, private_nats: str) -> None:
    good = [TeamCreated(team_id="1", name="team-1", revision=1), score(1, 1, 30.0, 29.0, 0), score(2, 1, 35.0, 34.0, 1),
            failed("3")]
    malformed = [failed("crashed-1a2b"), score(2**63, 1, 50.0, 50.0, 2),
                 SubmissionCancelled(submission_id="x", team_id="1", task_id=TASK.id, scorer_version="v1",
                                     cancelled_by="admin", by_admin=True),
                 RescoreRequested(rescore_id="r1", requested_by="admin", scorer_version="v2", task_id=TASK.id,
                                  submission_ids=("1", "two"))]
    client = await nats.connect(private_nats)
    try:
        js = client.jetstream()
        await ensure_streams(js)
        # In this order: a malformed event between good ones, on each stream the rebuild reads.
        for event in (good[0], good[1], malformed[0], malformed[1], good[2], malformed[2], good[3], malformed[3]):
            await publish_event(js, event)
        async with empty_projection(migrated) as conn:
            report = await rebuild(OneConnection(conn).as_pool(), js, Competition(tasks=(TASK,)))
            rebuilt = await projection.board(conn, TASK)
            failures = await conn.fetchval("SELECT count(*) FROM leaderboard.failed_outcomes")
            rescores = await conn.fetchval("SELECT count(*) FROM leaderboard.rescores")
    finally:
        await client.close()
    assert [(s.stream, s.seq, s.event) for s in report.skipped] == [
        ("SUBMISSIONS", 1, "RescoreRequested"), ("SCORES", 2, "ScoreFailed"), ("SCORES", 3, "ScoreComputed"),
        ("SCORES", 5, "SubmissionCancelled")]
    assert "'crashed-1a2b' is not a 64-bit integer" in report.skipped[1].reason
    assert (report.events, report.scores, failures, rescores) == (8, 2, 1, 0)
    assert rebuilt == await board_from(migrated, good)  # the good events' board, as if the others never were


class RecordedBoards:
    """Stands in for the BoardPublisher: the tasks whose boards would have been published."""

    def __init__(self) -> None:
        self.published: list[str] = []

    async def publish(self, task: Task) -> None:
        self.published.append(task.id)

    async def publish_soon(self, task: Task) -> None:
        await self.publish(task)


async def test_the_live_path_skips_a_malformed_event_once(migrated: asyncpg.Pool) -> None:
    boards = RecordedBoards()
    async with empty_projection(migrated) as conn:
        handlers = LeaderboardHandlers(competition=current_competition(Competition(tasks=(TASK,))),
                                       pool=OneConnection(conn).as_pool(), boards=boards)  # type: ignore[arg-type]
        await handlers.on_event("SCORES", 7, failed("crashed-1a2b"))  # no error: it is not delivered again
        assert await projection.claim(conn, "SCORES", 7) is None  # claimed: a redelivery is a no-op
        assert await conn.fetchval("SELECT count(*) FROM leaderboard.failed_outcomes") == 0
    assert boards.published == []  # nothing changed


async def test_events_of_different_streams_are_applied_one_at_a_time(migrated: asyncpg.Pool) -> None:
    """A rescore's request (SUBMISSIONS) and its last outcome (SCORES) arrive on two consumers at once; applied in
    two concurrent transactions, each would miss the other's rows and the rescore would never complete. While one
    event is being applied (the lock held here), another waits."""
    handlers = LeaderboardHandlers(competition=current_competition(Competition(tasks=(TASK,))), pool=migrated,
                                   boards=RecordedBoards())  # type: ignore[arg-type]
    stream = f"TEST-ONE-AT-A-TIME-{uuid.uuid4().hex[:8]}"
    try:
        async with migrated.acquire() as holder, holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock($1)", projection.APPLY_LOCK)
            applying = asyncio.create_task(handlers.on_event(stream, 1, failed("skipped-anyway")))
            async with asyncio.timeout(30):  # until the other application is seen waiting for the lock
                while not await migrated.fetchval(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"):
                    await asyncio.sleep(0.05)
            assert not applying.done()
        await asyncio.wait_for(applying, 30)  # the lock released: it goes on
        assert await migrated.fetchval("SELECT last_seq FROM leaderboard.applied WHERE stream = $1", stream) == 1
    finally:
        await migrated.execute("DELETE FROM leaderboard.applied WHERE stream = $1", stream)


# --- a changed scoring identity ---------------------------------------------------------------------------


def public_scores(board: object) -> dict[str, float]:
    return {entry.team_id: entry.score for entry in board.public}  # type: ignore[attr-defined]


async def test_old_scores_count_until_the_rescore_of_a_changed_identity_completes(
        migrated: asyncpg.Pool, private_nats: str) -> None:
    """The host put a new ground truth: the task's identity changed, and the scores computed under the old one
    stay on the board (nothing empties it). A rescore under the new identity switches the board only once all its
    submissions have an outcome; a submission scored under the new identity meanwhile counts at once. The live
    path and a rebuild from the streams give the same board."""
    old = msgspec.structs.replace(TASK, ground_truth_sha256="a" * 64)
    new = msgspec.structs.replace(TASK, ground_truth_sha256="b" * 64)
    assert old.scorer_version != new.scorer_version
    rescored = f"{new.scorer_version}-rabc"
    events = [
        ("TEAMS", TeamCreated(team_id="1", name="team-1", revision=1)),
        ("TEAMS", TeamCreated(team_id="2", name="team-2", revision=1)),
        ("SCORES", score(1, 1, 30.0, 29.0, 0, old.scorer_version)),
        ("SCORES", score(2, 2, 35.0, 34.0, 1, old.scorer_version)),
        ("SUBMISSIONS", RescoreRequested(rescore_id="abc", requested_by="admin", scorer_version=rescored,
                                         task_id=TASK.id, submission_ids=("1", "2"))),
        ("SCORES", score(1, 1, 40.0, 39.0, 0, rescored)),  # the rescore is not complete: not counted yet
        ("SCORES", score(3, 2, 20.0, 20.0, 2, new.scorer_version)),  # a new submission, under the new identity
        ("SCORES", score(2, 2, 36.0, 35.0, 1, rescored)),  # the last outcome: the board switches
    ]
    seen = []
    async with empty_projection(migrated) as conn:
        handlers = LeaderboardHandlers(competition=current_competition(Competition(tasks=(new,))),
                                       pool=OneConnection(conn).as_pool(), boards=RecordedBoards())  # type: ignore[arg-type]
        for seq, (stream, event) in enumerate(events, start=1):
            await handlers.on_event(stream, seq, event)
            seen.append(public_scores(await projection.board(conn, new)))
        live = await projection.board(conn, new)
    assert seen[3] == {"1": 30.0, "2": 35.0}  # scored under the old identity, on the board of the new one
    assert seen[5] == seen[3]  # a rescore's score waits for the rescore
    assert seen[6] == {"1": 30.0, "2": 35.0}  # team 2's new 20.0 is not its best
    assert seen[7] == {"1": 40.0, "2": 36.0}  # switched: both submissions under the rescore's version
    assert live.scores_counted == 3

    client = await nats.connect(private_nats)
    try:
        js = client.jetstream()
        await ensure_streams(js)
        for _, event in events:
            await publish_event(js, event)
        async with empty_projection(migrated) as conn:
            await rebuild(OneConnection(conn).as_pool(), js, Competition(tasks=(new,)))
            rebuilt = await projection.board(conn, new)
    finally:
        await client.close()
    assert rebuilt == live
