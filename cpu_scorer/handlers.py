"""Scoring one SubmissionReceived: fetch the archive and the ground truth, score off the event loop with
progress and in-progress acks, publish ScoreComputed (details to object storage) — or ScoreFailed and
AckTerm for the participant's mistakes, or a Nak (redelivery with backoff) for the platform's."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import time
from dataclasses import dataclass, field

import msgspec
from faststream.exceptions import NackMessage, RejectMessage
from faststream.nats import NatsBroker, NatsMessage
from minio import Minio

from cpu_scorer.archive import ArchiveLimits, ArchiveRejected
from cpu_scorer.ground_truth import GroundTruthCache
from cpu_scorer.psnr import split_assignment
from cpu_scorer.scoring import ScoreResult, score_archive
from podium_runtime.publish import publish_event
from proto.competition import Competition, Task
from proto.events import ScoreComputed, ScoreFailed, ScoreProgress, SubmissionReceived

log = logging.getLogger(__name__)
SUBMISSIONS_BUCKET = "submissions"
DETAILS_BUCKET = "score-details"
PROGRESS_INTERVAL_S = 0.25
_encoder = msgspec.json.Encoder()


def read_object(s3: Minio, bucket: str, key: str, max_bytes: int) -> bytes:
    response = s3.get_object(bucket, key)
    try:
        data = response.read(amt=max_bytes + 1)
    finally:
        response.close()
        response.release_conn()
    if len(data) > max_bytes:
        raise ArchiveRejected(f"the archive is larger than the task's limit of {max_bytes} bytes")
    return data


def split_scores(result: ScoreResult) -> tuple[float, float]:
    """Public and private means; a task whose split leaves one side empty reports the other for both."""
    public = result.public_mean if result.public_mean is not None else result.private_mean
    private = result.private_mean if result.private_mean is not None else result.public_mean
    assert public is not None and private is not None  # a task has at least one sample
    return public, private


@dataclass
class CpuScorer:
    competition: Competition
    limits: ArchiveLimits
    broker: NatsBroker
    s3: Minio
    ground_truth: GroundTruthCache
    ack_wait_s: float
    retry_delays_s: tuple[float, ...]
    _live_publishes: set[asyncio.Task[None]] = field(default_factory=set)

    async def _fail(self, event: SubmissionReceived, reason: str, *, infrastructure: bool = False) -> None:
        failed = ScoreFailed(
            submission_id=event.submission_id, team_id=event.team_id, task_id=event.task_id,
            scorer_version=event.scorer_version, reason=reason, infrastructure=infrastructure,
            phase_id=event.phase_id, correlation_id=event.correlation_id,
        )
        await publish_event(self.broker.connection.jetstream(), failed)

    def _progress_reporter(self, event: SubmissionReceived):  # noqa: ANN202 — a callback for the worker thread
        loop = asyncio.get_running_loop()
        last = [0.0]

        def report(done: int, total: int) -> None:
            now = time.monotonic()
            if done != total and now - last[0] < PROGRESS_INTERVAL_S:
                return
            last[0] = now
            progress = ScoreProgress(submission_id=event.submission_id, team_id=event.team_id, done=done,
                                     total=total, correlation_id=event.correlation_id)
            payload = _encoder.encode(progress)
            loop.call_soon_threadsafe(self._publish_live, payload, progress.subject())

        return report

    def _retry_delay(self, message: NatsMessage) -> float:
        delivered = message.raw_message.metadata.num_delivered or 1
        return self.retry_delays_s[min(delivered, len(self.retry_delays_s)) - 1] if self.retry_delays_s else 1.0

    def _publish_live(self, payload: bytes, subject: str) -> None:
        # The loop keeps only a weak reference to a task: hold it until it is done, or it may vanish unsent.
        task = asyncio.get_running_loop().create_task(self.broker.publish(payload, subject))
        self._live_publishes.add(task)
        task.add_done_callback(self._live_published)

    def _live_published(self, task: asyncio.Task[None]) -> None:
        self._live_publishes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a progress event was not published", extra={"error": repr(task.exception())})

    async def _keep_alive(self, message: NatsMessage) -> None:
        # Long jobs tell JetStream they are alive, so AckWait does not redeliver them to another worker.
        while True:
            await asyncio.sleep(self.ack_wait_s / 3)
            await message.in_progress()

    async def score(self, event: SubmissionReceived, message: NatsMessage) -> None:
        task = self.competition.task(event.task_id)
        if task is None or task.kind != "cpu":
            await self._fail(event, f"task {event.task_id!r} is not a CPU task of this competition")
            raise RejectMessage()
        started = time.perf_counter()
        keep_alive = asyncio.create_task(self._keep_alive(message))
        try:
            outcome = await self._score(task, event)
        except ArchiveRejected as exc:
            log.info("submission refused", extra={"submission_id": event.submission_id, "reason": str(exc)})
            await self._fail(event, str(exc))
            raise RejectMessage() from None
        except Exception as exc:
            # Storage or NATS unreachable, ground truth misconfigured, a bug: not the participant's fault.
            # Retried with growing delays; after MaxDeliver the advisory ends the submission `failed`.
            delay = self._retry_delay(message)
            log.warning("scoring failed on our side; retrying", exc_info=True,
                        extra={"submission_id": event.submission_id, "retry_in_s": delay})
            raise NackMessage(delay=delay) from exc
        finally:
            keep_alive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keep_alive
        outcome.durations_ms["total"] = (time.perf_counter() - started) * 1000
        await publish_event(self.broker.connection.jetstream(), outcome)
        log.info("submission scored", extra={"submission_id": event.submission_id,
                                             "public_score": outcome.public_score})

    async def _score(self, task: Task, event: SubmissionReceived) -> ScoreComputed:
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        archive = await asyncio.to_thread(read_object, self.s3, SUBMISSIONS_BUCKET, event.object_key,
                                          task.max_upload_bytes)
        timings["download"] = (time.perf_counter() - clock) * 1000
        clock = time.perf_counter()
        truth = await self.ground_truth.get(task)
        timings["ground_truth"] = (time.perf_counter() - clock) * 1000
        clock = time.perf_counter()
        mask = split_assignment(task.samples, task.split.private_fraction, task.split.seed)
        result = await asyncio.to_thread(
            score_archive, archive, truth.arrays, limits=self.limits, data_range=task.psnr.data_range,
            cap_db=task.psnr.cap_db, private_mask=mask, progress=self._progress_reporter(event),
        )
        timings["scoring"] = (time.perf_counter() - clock) * 1000
        public, private = split_scores(result)
        details_key = f"{task.id}/{event.submission_id}/{event.scorer_version}.json"
        details = {
            "submission_id": event.submission_id, "task_id": task.id, "scorer_version": event.scorer_version,
            "metric": "psnr", "unit": "dB", "cap_db": task.psnr.cap_db,
            "samples": [{"name": name, "psnr": value, "private": bool(private_sample)}
                        for (name, value), private_sample in zip(result.per_sample.items(), mask, strict=True)],
        }
        await asyncio.to_thread(self._put_details, details_key, json.dumps(details).encode())
        return ScoreComputed(
            submission_id=event.submission_id, team_id=event.team_id, task_id=task.id,
            scorer_version=event.scorer_version, public_score=public, private_score=private,
            submitted_at=event.submitted_at, phase_id=event.phase_id, correlation_id=event.correlation_id,
            metrics={"psnr_public": public, "psnr_private": private, "files_evaluated": float(result.n_samples)},
            details_key=details_key, archive_sha256=event.sha256, ground_truth_sha256=truth.sha256,
            durations_ms=timings,
        )

    def _put_details(self, key: str, data: bytes) -> None:
        self.s3.put_object(DETAILS_BUCKET, key, io.BytesIO(data), len(data), content_type="application/json")
