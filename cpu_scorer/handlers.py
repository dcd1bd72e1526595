"""cpu_scorer's own part of scoring (the scoring kit, `podium_runtime.scoring.kit`, does the rest): the formats it
takes, each scoring a submission's bytes against the task's ground truth off the event loop. `tensors`: a ZIP of
result tensors, PSNR per sample; `csv`: a CSV of predictions against the task's solution, the task's metric on the
public and the private rows. A participant's mistake is refused (ArchiveRejected, SubmissionRefused, a
ScoreFailed); a ground truth missing or not the one recorded is the platform's (a retry)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cpu_scorer.psnr import split_assignment
from cpu_scorer.scoring import score_archive
from podium_runtime.ground_truth import GroundTruthCache, csv_settings, solution_targets
from podium_runtime.scoring import metrics
from podium_runtime.scoring.archive import ArchiveLimits, ArchiveRejected
from podium_runtime.scoring.formats.csv import Solution, read_submission
from podium_runtime.scoring.kit import Format, Scored, Scorer, Timings, both_splits
from proto.competition import Task
from proto.events import SubmissionReceived


@dataclass(kw_only=True)
class CpuScorer(Scorer):
    kind = "cpu"
    tasks_named = "a CPU task"

    limits: ArchiveLimits
    ground_truth: GroundTruthCache[dict[str, np.ndarray]]
    solutions: GroundTruthCache[Solution]

    @property
    def formats(self) -> Mapping[str, Format]:
        return {"tensors": Format(self.score_tensors, {ArchiveRejected: "archive_rejected"}, ArchiveRejected,
                                  "archive"),
                "csv": Format(self.score_csv)}

    async def score_csv(self, task: Task, event: SubmissionReceived, data: bytes) -> Scored:
        self.jobs.log(event, f"started: CSV of {len(data)} bytes, metric {task.metric}")
        timings = Timings()
        with timings.step("ground_truth"):
            solution = await self.solutions.get(task)
        with timings.step("scoring"):
            splits = await asyncio.to_thread(score_predictions, data, solution, task)
        public, private = both_splits(splits["public"], splits["private"])
        self.jobs.log(event, f"scored {int(solution.kept.sum())} rows; public {task.metric} {public:.6g}")
        # Flat keys: a team's view leaves out every key naming the private split (submission_service.visibility).
        details = {"metric": task.metric, f"{task.metric}_public": splits["public"],
                   f"{task.metric}_private": splits["private"], "rows_public": int(solution.public.sum()),
                   "rows_private": int(solution.private_kept.sum()), "rows_ignored": int((~solution.kept).sum())}
        metrics_by_name = {f"{task.metric}_public": public, f"{task.metric}_private": private,
                           "rows_evaluated": float(solution.kept.sum())}
        return Scored(public=public, private=private, metrics=metrics_by_name, details=details, timings=timings)

    async def score_tensors(self, task: Task, event: SubmissionReceived, archive: bytes) -> Scored:
        self.jobs.log(event, f"started: archive of {len(archive)} bytes, {task.samples} samples expected")
        timings = Timings()
        with timings.step("ground_truth"):
            # GroundTruthMissing (none yet, or the stored bytes are not the recorded ones) is the platform's: a retry.
            truth = await self.ground_truth.get(task)
        with timings.step("scoring"):
            mask = split_assignment(task.samples, task.split.private_fraction, task.split.seed)
            result = await asyncio.to_thread(
                score_archive, archive, truth, limits=self.limits, data_range=task.psnr.data_range,
                cap_db=task.psnr.cap_db, private_mask=mask, progress=self.jobs.progress(event),
            )
        public, private = both_splits(result.public_mean, result.private_mean)
        self.jobs.log(event, f"scored {result.n_samples} samples; public PSNR {public:.4f} dB")
        details = {
            "metric": "psnr", "unit": "dB", "cap_db": task.psnr.cap_db,
            "samples": [{"name": name, "psnr": value, "private": bool(private_sample)}
                        for (name, value), private_sample in zip(result.per_sample.items(), mask, strict=True)],
        }
        metrics = {"psnr_public": public, "psnr_private": private, "files_evaluated": float(result.n_samples)}
        return Scored(public=public, private=private, metrics=metrics, details=details, timings=timings)


def score_predictions(data: bytes, solution: Solution, task: Task) -> dict[str, float | None]:
    """The task's metric on the public and on the private kept rows (None: the split has no row); a participant's
    mistake is a SubmissionRefused, a metric without a value on a split a MetricUndefined."""
    probabilities = metrics.METRICS[task.metric].takes == "probabilities"
    predictions = read_submission(data, solution, csv_settings(task), probabilities=probabilities)
    truth = solution_targets(solution)
    if predictions.shape[1] == 1 and truth.ndim == 1:
        predictions = predictions[:, 0]
    return {split: metrics.evaluate(task.metric, truth[rows], predictions[rows], task.metric_parameters)
            if rows.any() else None
            for split, rows in (("public", solution.public), ("private", solution.private_kept))}
