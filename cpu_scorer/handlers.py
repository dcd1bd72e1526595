"""cpu_scorer's own part of scoring (the scoring kit, `podium_runtime.scoring.kit`, does the rest): the formats it
takes, each scoring a submission's bytes against the task's ground truth off the event loop. `tensors`: a ZIP of
result tensors, PSNR per sample. A participant's mistake in the archive is refused (ArchiveRejected, a ScoreFailed);
a ground truth missing or not the one recorded is the platform's (a retry)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cpu_scorer.psnr import split_assignment
from cpu_scorer.scoring import score_archive
from podium_runtime.ground_truth import GroundTruthCache
from podium_runtime.scoring.archive import ArchiveLimits, ArchiveRejected
from podium_runtime.scoring.kit import Format, Scored, Scorer, Timings, both_splits
from proto.competition import Task
from proto.events import SubmissionReceived


@dataclass(kw_only=True)
class CpuScorer(Scorer):
    kind = "cpu"
    tasks_named = "a CPU task"

    limits: ArchiveLimits
    ground_truth: GroundTruthCache[dict[str, np.ndarray]]

    @property
    def formats(self) -> Mapping[str, Format]:
        return {"tensors": Format(self.score_tensors, {ArchiveRejected: "archive_rejected"}, ArchiveRejected,
                                  "archive")}

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
