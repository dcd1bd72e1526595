"""Scoring one SubmissionReceived under the competition version it names (or a newer one): fetch the archive and
the ground truth, score off the event loop with progress and in-progress acks, publish ScoreComputed (details to
object storage) — or ScoreFailed and AckTerm for the participant's mistakes, or a Nak (redelivery with backoff) for
the platform's: a version not here yet, a ground truth missing or not the one recorded, storage away."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from faststream import Context
from faststream.exceptions import RejectMessage
from faststream.nats import NatsBroker, NatsMessage, NatsRouter
from minio import Minio

from cpu_scorer.psnr import split_assignment
from cpu_scorer.scoring import ScoreResult, score_archive
from podium_runtime.competition import CATCH_UP_S, CurrentCompetition
from podium_runtime.consumers import durable_subscriber
from podium_runtime.ground_truth import GroundTruthCache
from podium_runtime.jobs import JobReporter, verify_digest
from podium_runtime.scoring.archive import ArchiveLimits, ArchiveRejected
from proto.competition import Task
from proto.events import ScoreComputed, SubmissionReceived
from proto.streams import CPU_SCORER

log = logging.getLogger(__name__)
SUBMISSIONS_BUCKET = "submissions"
DETAILS_BUCKET = "score-details"


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
    competition: CurrentCompetition
    limits: ArchiveLimits
    broker: NatsBroker
    s3: Minio
    ground_truth: GroundTruthCache[dict[str, np.ndarray]]
    jobs: JobReporter
    # How long a submission naming a competition version this scorer has not seen yet waits for it.
    catch_up_s: float = CATCH_UP_S

    async def score(self, event: SubmissionReceived, message: NatsMessage) -> None:
        # Version 1 at least: an event from before versions were named still needs some competition.
        needed = max(event.competition_version, 1)
        if not await self.competition.at_least(needed, self.catch_up_s):
            raise self.jobs.retry_later(event, message, f"competition version {needed} has not reached this "
                                                        "scorer yet")
        version = self.competition.version  # one version for the whole job: its task and what the score records
        task = version.competition.task(event.task_id)
        if task is None or task.kind != "cpu":
            await self.jobs.fail(event, f"task {event.task_id!r} is not a CPU task of this competition",
                                 code="unknown_task")
            raise RejectMessage()
        # An archived task takes no new submissions, but what was accepted before is still scored.
        await self.jobs.run(event, message, lambda: self._score(task, version.version, event),
                            {ArchiveRejected: "archive_rejected"})

    async def _score(self, task: Task, competition_version: int, event: SubmissionReceived) -> ScoreComputed:
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        archive = await asyncio.to_thread(read_object, self.s3, SUBMISSIONS_BUCKET, event.object_key,
                                          task.max_upload_bytes)
        timings["download"] = (time.perf_counter() - clock) * 1000
        await asyncio.to_thread(verify_digest, event, archive)
        self.jobs.log(event, f"started: archive of {len(archive)} bytes, {task.samples} samples expected")
        clock = time.perf_counter()
        # GroundTruthMissing (none yet, or the stored bytes are not the recorded ones) is the platform's: a retry.
        truth = await self.ground_truth.get(task)
        timings["ground_truth"] = (time.perf_counter() - clock) * 1000
        clock = time.perf_counter()
        mask = split_assignment(task.samples, task.split.private_fraction, task.split.seed)
        result = await asyncio.to_thread(
            score_archive, archive, truth, limits=self.limits, data_range=task.psnr.data_range,
            cap_db=task.psnr.cap_db, private_mask=mask, progress=self.jobs.progress(event),
        )
        timings["scoring"] = (time.perf_counter() - clock) * 1000
        public, private = split_scores(result)
        self.jobs.log(event, f"scored {result.n_samples} samples; public PSNR {public:.4f} dB")
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
            details_key=details_key, archive_sha256=event.sha256, ground_truth_sha256=task.ground_truth_sha256,
            durations_ms=timings, competition_version=competition_version, identity=task.scorer_version,
        )

    def _put_details(self, key: str, data: bytes) -> None:
        self.s3.put_object(DETAILS_BUCKET, key, io.BytesIO(data), len(data), content_type="application/json")


def create_router() -> NatsRouter:
    """The durable consumer of CPU submissions; the scorer arrives through FastStream's context (`wire`)."""
    router = NatsRouter()

    @durable_subscriber(router, CPU_SCORER)
    async def score_submission(event: SubmissionReceived, message: NatsMessage,
                               scorer: Annotated[CpuScorer, Context("scorer")]) -> None:
        await scorer.score(event, message)

    return router
