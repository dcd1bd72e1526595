"""Rebuilding the projection from the streams: empty it, replay TEAMS, BOARD and SCORES from sequence 1,
then publish every board. Score events are gathered and copied in bulk (the bulk of any replay); the
result is the same board the incremental path builds, because both apply the same idempotent rules. A malformed
event (one the projection cannot hold, which the incremental path skips as well) is skipped, logged and reported,
and the rebuild goes on."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import asyncpg
import nats.errors
import stamina
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import ServiceUnavailableError

from leaderboard_service import projection
from proto import codec
from proto.competition import Competition
from proto.events import ScoreComputed
from proto.streams import BOARD, QA, SCORES, SUBMISSIONS, TEAMS
from proto.subjects import RESCORE_REQUESTED

log = logging.getLogger(__name__)
PROJECTION_TABLES = ("leaderboard.applied, leaderboard.scores, leaderboard.teams, leaderboard.finals, "
                     "leaderboard.reveals, leaderboard.audit, leaderboard.rescores, leaderboard.active_versions, "
                     "leaderboard.failed_outcomes, leaderboard.cancelled")
BATCH = 1000


@dataclass(frozen=True)
class SkippedEvent:
    stream: str
    seq: int
    event: str  # its type
    reason: str


@dataclass
class RebuildReport:
    events: int
    scores: int
    seconds: float
    skipped: list[SkippedEvent] = field(default_factory=list)


# A NATS cluster that just lost a node answers JetStream requests with 503 until the stream's new leader is elected
# (a few seconds): the replay asks again instead of failing the rebuild.
@stamina.retry(on=ServiceUnavailableError, attempts=15, wait_initial=0.2, wait_max=2.0)
async def _fetch(subscription: JetStreamContext.PullSubscription) -> list[Msg]:
    return await subscription.fetch(BATCH, timeout=2)


async def replay_stream(js: JetStreamContext, stream: str, subject: str = ""):  # noqa: ANN201 — (seq, event)s
    """Every message of `stream` (on `subject`), oldest first, through an ephemeral pull consumer, no acks."""
    info = await js.stream_info(stream)
    last = info.state.last_seq
    if info.state.messages == 0:
        return
    subscription = await js.pull_subscribe(
        subject, stream=stream,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=60,
                              filter_subject=subject or None),
    )
    try:
        while True:
            try:
                messages = await _fetch(subscription)
            except nats.errors.TimeoutError:
                return  # a filtered replay ends before the stream's last sequence
            for message in messages:
                seq = message.metadata.sequence.stream
                yield seq, codec.decode(message.data)
                if seq >= last or message.metadata.num_pending == 0:
                    return
    finally:
        await subscription.unsubscribe()


class HistoryLost(Exception):
    """The streams no longer hold everything the projection was built from (JetStream's store was wiped)."""


async def rebuild(pool: asyncpg.Pool, js: JetStreamContext, competition: Competition, *,
                  accept_lost_history: bool = False) -> RebuildReport:
    started = time.perf_counter()
    events = scores = 0
    skipped: list[SkippedEvent] = []
    async with pool.acquire() as conn, conn.transaction():
        lost = await conn.fetch("SELECT stream, lost_at, last_seq FROM leaderboard.lost_history ORDER BY stream")
        if lost and not accept_lost_history:
            raise HistoryLost(
                "refusing to rebuild: JetStream's store was wiped, so the streams lack events the boards count ("
                + "; ".join(f"{r['stream']}: messages 1–{r['last_seq']}, lost {r['lost_at']:%Y-%m-%d %H:%M} UTC"
                            for r in lost)
                + "). The projection still has them; a rebuild would drop them. Rebuild anyway with "
                "--accept-lost-history.")
        await conn.execute("DELETE FROM leaderboard.lost_history")
        # Live consumers wait for the rebuild to commit, then find their events already applied.
        await conn.execute(f"LOCK TABLE {PROJECTION_TABLES} IN ACCESS EXCLUSIVE MODE")
        await conn.execute(f"TRUNCATE {PROJECTION_TABLES}")
        replays = ((TEAMS.name, ""), (BOARD.name, ""), (QA.name, ""), (SUBMISSIONS.name, RESCORE_REQUESTED),
                   (SCORES.name, ""))
        for stream, subject in replays:
            pending: dict[tuple[int, str], tuple] = {}
            last_seq = 0
            async for seq, event in replay_stream(js, stream, subject):
                events += 1
                last_seq = seq
                try:
                    projection.check(event)  # before anything is written: a skipped event leaves nothing behind
                except projection.MalformedEvent as exc:
                    skipped.append(SkippedEvent(stream, seq, type(event).__name__, str(exc)))
                    log.warning("skipped a malformed event", extra={"stream": stream, "seq": seq,
                                                                    "event": type(event).__name__, "reason": str(exc)})
                    continue
                if isinstance(event, ScoreComputed):
                    record = projection.score_record(event)
                    pending.setdefault(record[:2], record)  # the first of (submission, scorer version) counts
                else:
                    await projection.apply(conn, event, stream=stream, seq=seq)
            if pending:
                await conn.copy_records_to_table("scores", schema_name="leaderboard", records=list(pending.values()),
                                                 columns=projection.SCORE_COLUMNS)
                scores += len(pending)
            if last_seq:
                await projection.claim(conn, stream, last_seq)
        for task in competition.tasks:
            await projection.complete_rescores(conn, task)
    report = RebuildReport(events=events, scores=scores, seconds=time.perf_counter() - started, skipped=skipped)
    log.info("projection rebuilt", extra={"events": events, "scores": scores, "seconds": report.seconds,
                                          "skipped": len(skipped)})
    return report
