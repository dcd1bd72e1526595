"""Scoring one model submission: fetch and check the model, load it into the engine under a name unique to
the submission, run the hidden test set in batches within the task's time limit, compute the metrics on the
public and private samples, unload, publish the outcome (details to object storage). The job runs under the
competition version its submission names (or a newer one); a version not here yet or a test set missing or not the
one recorded is the platform's fault: the job goes back to JetStream (a Nak with backoff)."""

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

from gpu_scorer import reasons
from gpu_scorer.engines import Engine, EngineTimeout, ModelCrashed, ModelOutOfMemory
from gpu_scorer.metrics import Classification, classify, latency
from gpu_scorer.model_checks import ModelRejected, check_model
from podium_runtime.competition import CATCH_UP_S, CurrentCompetition
from podium_runtime.consumers import durable_subscriber
from podium_runtime.ground_truth import GroundTruthCache, TestSet
from podium_runtime.jobs import JobReporter, verify_digest
from proto.competition import Task
from proto.events import ScoreComputed, SubmissionReceived
from proto.streams import GPU_SCORER

log = logging.getLogger(__name__)
SUBMISSIONS_BUCKET = "submissions"
DETAILS_BUCKET = "score-details"
_DTYPES = {"float32": np.float32, "float16": np.float16, "float64": np.float64}


class ModelFailed(Exception):
    """The model ran but misbehaved (wrong output shape, non-finite scores, an error inside): its author's fault."""


def read_model(s3: Minio, key: str, max_bytes: int) -> bytes:
    response = s3.get_object(SUBMISSIONS_BUCKET, key)
    try:
        return response.read(amt=max_bytes + 1)
    finally:
        response.close()
        response.release_conn()


async def run_test_set(engine: Engine, name: str, x: np.ndarray, task: Task, dtype: type, progress,  # noqa: ANN001
                       deadline: float | None = None) -> tuple[np.ndarray, list[float]]:
    """Class scores for every sample, in batches, and each batch's seconds; the whole run done by `deadline` (a
    `time.monotonic()` instant; by default the task's time limit from now)."""
    signature = task.model
    if deadline is None:
        deadline = time.monotonic() + signature.timeout_s
    outputs, seconds = [], []
    for start in range(0, len(x), signature.batch_size):
        batch = x[start:start + signature.batch_size].astype(dtype)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise EngineTimeout(f"the model took longer than the task's time limit of {signature.timeout_s:g} s")
        began = time.perf_counter()
        try:
            scores = await engine.infer(name, batch, remaining)
        except ENGINE_REFUSALS:
            raise
        except Exception as exc:  # onnxruntime/Triton report a failing model with their own exception types
            raise ModelFailed(f"the model failed on a batch: {reasons.text(str(exc))}") from None
        seconds.append(time.perf_counter() - began)
        scores = np.asarray(scores)
        if scores.shape != (len(batch), signature.classes):
            # The shape is the model's result, not its text: quoted only when small (gpu_scorer.reasons).
            raise ModelFailed(f"the model returned {reasons.has_shape(scores.shape)} for a batch of {len(batch)}; "
                              f"expected shape ({len(batch)}, {signature.classes})")
        if not np.isfinite(scores).all():
            raise ModelFailed("the model returned NaN or infinite scores")
        outputs.append(scores.astype(np.float64))
        progress(min(start + len(batch), len(x)), len(x))
    return np.concatenate(outputs), seconds


def evaluate(task: Task, scores: np.ndarray, labels: np.ndarray, seconds: list[float]
             ) -> tuple[Classification, Classification, dict[str, float]]:
    """The metrics on the public and the private samples, and the batches' speed (numpy work: off the loop)."""
    private = np.array(task.split.private_samples(len(labels)), dtype=bool)
    public_result = classify(scores[~private], labels[~private], task.model.classes, task.model.top_k)
    private_result = classify(scores[private], labels[private], task.model.classes, task.model.top_k)
    return public_result, private_result, latency(seconds, len(labels))


# What an engine raises about the model itself, with a reason already written for the participant.
ENGINE_REFUSALS = (EngineTimeout, ModelOutOfMemory, ModelCrashed)
# The metrics' label for each way a model is refused (the participant reads the exception's text).
FAILURE_CODES = {ModelRejected: "model_rejected", ModelFailed: "model_failed", EngineTimeout: "model_timeout",
                 ModelOutOfMemory: "model_memory", ModelCrashed: "model_crashed"}


@dataclass
class GpuScorer:
    competition: CurrentCompetition
    broker: NatsBroker
    s3: Minio
    engine: Engine
    test_sets: GroundTruthCache[TestSet]
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
        if task is None or task.kind != "gpu":
            await self.jobs.fail(event, f"task {event.task_id!r} is not a model task of this competition",
                                 code="unknown_task")
            raise RejectMessage()
        # An archived task takes no new submissions, but what was accepted before is still scored.
        await self.jobs.run(event, message, lambda: self._score(task, version.version, event), FAILURE_CODES)

    async def _score(self, task: Task, competition_version: int, event: SubmissionReceived) -> ScoreComputed:
        data = await asyncio.to_thread(read_model, self.s3, event.object_key, task.max_upload_bytes)
        await asyncio.to_thread(verify_digest, event, data)
        checked = await asyncio.to_thread(check_model, data, task.model, tuple(task.shape), task.max_upload_bytes)
        self.jobs.log(event, f"model accepted: input {task.model.input_name!r} {checked.input_dtype} "
                             f"[batch, {', '.join(map(str, task.shape))}], {task.model.classes} classes")
        test_set = await self.test_sets.get(task)  # GroundTruthMissing is the platform's: retried
        # Unique per submission and version: two rescores of one model never share a loaded model.
        name = f"sub-{event.submission_id}-{event.scorer_version}"
        deadline = time.monotonic() + task.model.timeout_s  # the time limit covers loading the model too
        await self.engine.load(name, checked.data, input_name=task.model.input_name,
                               output_name=task.model.output_name, input_dtype=checked.input_dtype,
                               sample_shape=tuple(task.shape), classes=task.model.classes,
                               timeout_s=task.model.timeout_s, memory_limit_mb=task.model.memory_limit_mb)
        try:
            scores, seconds = await run_test_set(self.engine, name, test_set.x, task, _DTYPES[checked.input_dtype],
                                                 self.jobs.progress(event), deadline)
        finally:
            await self.engine.unload(name)
        public_result, private_result, speed = await asyncio.to_thread(evaluate, task, scores, test_set.y, seconds)
        self.jobs.log(event, f"{len(test_set.y)} samples in {len(seconds)} batches, p50 "
                             f"{speed['latency_p50_ms']:.1f} ms per batch; public accuracy "
                             f"{public_result.accuracy:.4f}")
        details_key = f"{task.id}/{event.submission_id}/{event.scorer_version}.json"
        details = {"submission_id": event.submission_id, "task_id": task.id, "scorer_version": event.scorer_version,
                   "metric": "accuracy", "public": vars(public_result), **speed}
        await asyncio.to_thread(self.s3.put_object, DETAILS_BUCKET, details_key,
                                io.BytesIO(payload := json.dumps(details).encode()), len(payload),
                                content_type="application/json")
        metrics = {"accuracy_public": public_result.accuracy, "accuracy_private": private_result.accuracy,
                   f"top{task.model.top_k}_public": public_result.top_k, "macro_f1_public": public_result.macro_f1,
                   **speed}
        if public_result.roc_auc is not None:
            metrics["roc_auc_public"] = public_result.roc_auc
        return ScoreComputed(
            submission_id=event.submission_id, team_id=event.team_id, task_id=task.id,
            scorer_version=event.scorer_version, public_score=public_result.accuracy,
            private_score=private_result.accuracy, submitted_at=event.submitted_at, phase_id=event.phase_id,
            correlation_id=event.correlation_id, metrics=metrics, details_key=details_key,
            archive_sha256=event.sha256, ground_truth_sha256=task.ground_truth_sha256,
            durations_ms={"inference": sum(seconds) * 1000}, competition_version=competition_version,
            identity=task.scorer_version,
        )


def create_router() -> NatsRouter:
    """The durable consumer of model submissions; the scorer arrives through FastStream's context (`wire`)."""
    router = NatsRouter()

    @durable_subscriber(router, GPU_SCORER)
    async def score_model(event: SubmissionReceived, message: NatsMessage,
                          scorer: Annotated[GpuScorer, Context("scorer")]) -> None:
        await scorer.score(event, message)

    return router
