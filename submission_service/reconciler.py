"""Nothing stays stuck: uploads never completed expire (quota refunded); accepted submissions that got no
score in time are published again, and after a few tries end `failed` with a reason; a submission whose
scoring exhausted JetStream's MaxDeliver (the advisory) ends `failed` too."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import msgspec
from minio import Minio
from nats.js import JetStreamContext

from proto import codec
from proto.events import ScoreFailed, SubmissionReceived
from proto.streams import SUBMISSIONS
from submission_service import store
from submission_service.store import BUCKET

log = logging.getLogger(__name__)
# JetStream's advisory when a message hit MaxDeliver on a consumer of the SUBMISSIONS stream.
MAX_DELIVERIES_ADVISORY = f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{SUBMISSIONS.name}.*"


class MaxDeliveriesAdvisory(msgspec.Struct):
    stream: str
    consumer: str
    stream_seq: int
    deliveries: int


def infrastructure_failure(event: SubmissionReceived, reason: str) -> ScoreFailed:
    return ScoreFailed(
        submission_id=event.submission_id, team_id=event.team_id, task_id=event.task_id,
        scorer_version=event.scorer_version, reason=reason, infrastructure=True, phase_id=event.phase_id,
        correlation_id=event.correlation_id,
    )


@dataclass
class Reconciler:
    pool: asyncpg.Pool
    s3: Minio
    # Longer than JetStream's duplicate window, so a re-publish is not dropped as a duplicate.
    stuck_after: timedelta
    max_republish: int
    upload_grace: timedelta = timedelta(minutes=1)

    async def pass_once(self) -> dict[str, int]:
        counts = {"expired": 0, "republished": 0, "failed": 0}
        async with self.pool.acquire() as conn, conn.transaction():
            counts["expired"] = await store.expire_uploads(conn, self.upload_grace)
            for row in await store.stuck(conn, self.stuck_after):
                event = store.received_event(row)
                if row["republished"] < self.max_republish:
                    await store.outbox.add(conn, event)
                    counts["republished"] += 1
                else:
                    reason = (f"scoring did not finish after {row['republished'] + 1} attempts; this is the "
                              "platform's fault, your quota is refunded")
                    await store.outbox.add(conn, infrastructure_failure(event, reason))
                    counts["failed"] += 1
                await store.count_republish(conn, row["id"])
        counts["uploads_removed"] = await self.sweep_uploads()
        if any(counts.values()):
            log.info("reconciled submissions", extra=counts)
        return counts

    async def sweep_uploads(self) -> int:
        """Remove what sits at the upload key of every submission whose upload URL has expired: an upload never
        completed (expired, cancelled) or anything PUT after `complete` copied the checked bytes away."""
        async with self.pool.acquire() as conn:
            rows = await store.unswept_uploads(conn, self.upload_grace)
        removed: list[int] = []
        try:
            for row in rows:
                await asyncio.to_thread(self.s3.remove_object, BUCKET, row["upload_key"])
                removed.append(row["id"])
        finally:  # storage away midway: what was removed stays recorded, the rest is tried next pass
            if removed:
                async with self.pool.acquire() as conn:
                    await store.mark_swept(conn, removed)
        return len(removed)

    async def run(self, interval_s: float) -> None:
        while True:
            try:
                await self.pass_once()
            except Exception as exc:  # Postgres away: try again next round, never die
                log.warning("reconciler pass failed", extra={"error": repr(exc)})
            await asyncio.sleep(interval_s)


async def fail_exhausted(pool: asyncpg.Pool, js: JetStreamContext, advisory: MaxDeliveriesAdvisory) -> None:
    """A scorer gave up on a message: record the submission's failure through the outbox."""
    message = await js.get_msg(advisory.stream, advisory.stream_seq)
    if message.data is None:  # nats-py's empty payload: no event, so no submission of ours to fail
        return
    event = codec.decode(message.data)
    if not isinstance(event, SubmissionReceived):
        return
    reason = (f"scoring failed {advisory.deliveries} times for reasons on the platform's side; "
              "your quota is refunded — please submit again")
    async with pool.acquire() as conn, conn.transaction():
        await store.outbox.add(conn, infrastructure_failure(event, reason))


async def republish_in_flight(pool: asyncpg.Pool) -> int:
    """JetStream's store was wiped: every accepted submission without an outcome is published again now
    (not counted against `max_republish`: the loss was the bus's, not the submission's)."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await store.in_flight(conn)
        for row in rows:
            await store.outbox.add(conn, store.received_event(row))
    log.warning("republished the submissions in flight after JetStream's store was wiped",
                extra={"submissions": len(rows)})
    return len(rows)
