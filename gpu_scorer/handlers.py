"""gpu_scorer's own part of scoring (the scoring kit, `podium_runtime.scoring.kit`, does the rest): the `onnx`
format. Check the model, load it into the engine under a name unique to the submission, run the hidden test set in
batches within the task's time limit, compute the metrics on the public and private samples, unload. A model at
fault is refused with a reason (FAILURE_CODES); a test set missing or not the one recorded is the platform's fault:
the job goes back to JetStream (a Nak with backoff)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gpu_scorer import reasons
from gpu_scorer.engines import Engine, EngineTimeout, ModelCrashed, ModelOutOfMemory
from gpu_scorer.metrics import Classification, classify, latency
from gpu_scorer.model_checks import ModelRejected, check_model
from podium_runtime.ground_truth import GroundTruthCache, TestSet
from podium_runtime.scoring.kit import Format, Scored, Scorer
from proto.competition import Task
from proto.events import SubmissionReceived

_DTYPES = {"float32": np.float32, "float16": np.float16, "float64": np.float64}


class ModelFailed(Exception):
    """The model ran but misbehaved (wrong output shape, non-finite scores, an error inside): its author's fault."""


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


@dataclass(kw_only=True)
class GpuScorer(Scorer):
    kind = "gpu"
    tasks_named = "a model task"

    engine: Engine
    test_sets: GroundTruthCache[TestSet]

    @property
    def formats(self) -> Mapping[str, Format]:
        return {"onnx": Format(self.score_model, FAILURE_CODES, ModelRejected, "model")}

    async def score_model(self, task: Task, event: SubmissionReceived, data: bytes) -> Scored:
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
        # The task's one column (accuracy) is added by the kit under its header; these are the model's own.
        metrics = {f"top{task.model.top_k}_public": public_result.top_k, "macro_f1_public": public_result.macro_f1,
                   **speed}
        if public_result.roc_auc is not None:
            metrics["roc_auc_public"] = public_result.roc_auc
        return Scored.one_column(task, public_result.accuracy, private_result.accuracy, metrics=metrics,
                                 details={"metric": "accuracy", "public": vars(public_result), **speed},
                                 timings={"inference": sum(seconds) * 1000})
