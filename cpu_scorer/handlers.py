"""cpu_scorer's own part of scoring (the scoring kit, `podium_runtime.scoring.kit`, does the rest): the formats it
takes, each scoring a submission's bytes against the task's ground truth off the event loop, every column of the
task (`Task.columns`) on the public and the private split.

- `tensors`: a ZIP of result tensors, PSNR per sample;
- `csv`: a CSV of predictions against the task's solution, each column's metric on the public and the private rows;
- `masks`: a ZIP of PNG label images, Dice and IoU over the public and the private cases;
- `coco`: a COCO detection-results JSON, AP, AP50 and AP75 from one COCO evaluation per split;
- a program task (`metric = "program"`, format csv, tensors, masks or file): the format's reader checks the file
  (csv, tensors, masks), then the host's program scores it in its sandbox (`cpu_scorer.programs`).

A participant's mistake is refused (ArchiveRejected, SubmissionRefused, a ScoreFailed); a ground truth missing or
not the one recorded is the platform's (a retry)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cpu_scorer.programs import ProgramFailed, ProgramScoring
from cpu_scorer.psnr import split_assignment
from cpu_scorer.scoring import check_archive, score_archive
from podium_runtime.ground_truth import GroundTruthCache, csv_settings, solution_targets
from podium_runtime.scoring import columns, metrics
from podium_runtime.scoring.archive import ArchiveLimits, ArchiveRejected
from podium_runtime.scoring.formats import coco, masks
from podium_runtime.scoring.formats import csv as csv_format
from podium_runtime.scoring.kit import PROGRAM, Format, Scored, Scorer, Timings, both_splits
from podium_runtime.scoring.refusals import SubmissionRefused
from proto.competition import MetricColumn, Task
from proto.events import SubmissionReceived
from proto.metrics import METRIC_INFO

# A coco column's metric and the key `formats.coco.coco_ap` reports it under.
COCO_KEYS = {"map": "ap", "map50": "ap50", "map75": "ap75"}
# A label column of a task whose file holds probabilities of class 1 predicts class 1 above this (as scikit-learn's
# classifiers and torchmetrics do: a probability of exactly 0.5 is class 0).
LABEL_THRESHOLD = 0.5

ColumnValues = tuple[dict[str, float], dict[str, float]]


@dataclass(kw_only=True)
class CpuScorer(Scorer):
    kind = "cpu"
    tasks_named = "a CPU task"

    limits: ArchiveLimits
    ground_truth: GroundTruthCache[dict[str, np.ndarray]]
    solutions: GroundTruthCache[csv_format.Solution]
    masks: GroundTruthCache[masks.Masks]
    detections: GroundTruthCache[coco.CocoTruth]
    programs: ProgramScoring

    @property
    def formats(self) -> Mapping[str, Format]:
        archive: dict[type[Exception], str] = {ArchiveRejected: "archive_rejected"}
        return {"tensors": Format(self.score_tensors, archive, ArchiveRejected, "archive"),
                "csv": Format(self.score_csv),
                # A mask is refused by the ZIP's checks (ArchiveRejected) or by its PNG's (SubmissionRefused).
                "masks": Format(self.score_masks, {**archive, SubmissionRefused: "submission_refused"}, ArchiveRejected,
                                "archive"),
                "coco": Format(self.score_coco),
                PROGRAM: Format(self.score_program, {SubmissionRefused: "submission_refused",
                                                     ProgramFailed: "program_failed"})}

    async def score_program(self, task: Task, event: SubmissionReceived, data: bytes) -> Scored:
        """A program task's submission: refused with its format's reason where the reader refuses it (before the
        program runs), else scored by the host's program."""
        self.jobs.log(event, f"started: {task.effective_format} file of {len(data)} bytes, scored by the host's "
                             "program")
        timings = Timings()
        with timings.step("checks"):
            await self._check_submission(task, data)
        return await self.programs.score(task, event, data, timings)

    async def _check_submission(self, task: Task, data: bytes) -> None:
        """The format's reader's checks of a file a program will read (a `file` is passed as it is)."""
        fmt = task.effective_format
        if fmt == "csv":
            solution = await self.solutions.get(task)
            await asyncio.to_thread(csv_format.read_submission, data, solution, csv_settings(task))
        elif fmt == "tensors":
            await asyncio.to_thread(check_archive, data, task.sample_names(), tuple(task.shape), limits=self.limits)
        elif fmt == "masks":
            truth = await self.masks.get(task)
            await asyncio.to_thread(masks.read_submission, data, truth, limits=self.limits)

    async def score_csv(self, task: Task, event: SubmissionReceived, data: bytes) -> Scored:
        self.jobs.log(event, f"started: CSV of {len(data)} bytes, metric {task.metric}")
        timings = Timings()
        with timings.step("ground_truth"):
            solution = await self.solutions.get(task)
        with timings.step("scoring"):
            public, private = await asyncio.to_thread(score_predictions, data, solution, task)
        self._log_primary(event, task, f"scored {int(solution.kept.sum())} rows", public)
        # Flat keys: a team's view leaves out every key naming the private split (submission_service.visibility).
        details = {"metric": task.metric, "rows_public": int(solution.public.sum()),
                   "rows_private": int(solution.private_kept.sum()), "rows_ignored": int((~solution.kept).sum())}
        return Scored(public, private, {"rows_evaluated": float(solution.kept.sum())}, details, timings)

    async def score_masks(self, task: Task, event: SubmissionReceived, data: bytes) -> Scored:
        self.jobs.log(event, f"started: ZIP of masks of {len(data)} bytes, metric {task.metric}")
        timings = Timings()
        with timings.step("ground_truth"):
            truth = await self.masks.get(task)
        with timings.step("scoring"):
            public, private = await asyncio.to_thread(score_masks, data, truth, task, self.limits)
        self._log_primary(event, task, f"scored {len(truth.case_ids)} masks", public)
        details = {"metric": task.metric, "classes": truth.classes, "cases_public": int((~truth.private).sum()),
                   "cases_private": int(truth.private.sum())}
        return Scored(public, private, {"cases_evaluated": float(len(truth.case_ids))}, details, timings)

    async def score_coco(self, task: Task, event: SubmissionReceived, data: bytes) -> Scored:
        self.jobs.log(event, f"started: detections JSON of {len(data)} bytes, metric {task.metric}")
        timings = Timings()
        with timings.step("ground_truth"):
            truth = await self.detections.get(task)
        with timings.step("scoring"):
            public, private, count = await asyncio.to_thread(score_detections, data, truth, task)
        self._log_primary(event, task, f"scored {count} detections on {len(truth.image_ids)} images", public)
        details = {"metric": task.metric, "detections": count, "images_public": int((~truth.private).sum()),
                   "images_private": int(truth.private.sum())}
        return Scored(public, private, {"detections": float(count)}, details, timings)

    def _log_primary(self, event: SubmissionReceived, task: Task, done: str, public: Mapping[str, float]) -> None:
        """The job's log names the primary column's public value alone: the log is the team's to read."""
        primary = task.primary_column.header
        self.jobs.log(event, f"{done}; public {primary} {public[primary]:.6g}")

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
        return Scored.one_column(task, public, private, metrics={"files_evaluated": float(result.n_samples)},
                                 details=details, timings=timings)


def score_predictions(data: bytes, solution: csv_format.Solution, task: Task) -> ColumnValues:
    """Every column of a csv task on the public and on the private kept rows, the file read once; a participant's
    mistake is a SubmissionRefused, a column without a value on a split a MetricUndefined naming it.

    The file holds probabilities where any column takes them (each value then checked in [0, 1]); a label column
    then scores each row's predicted class: class 1 where the probability of class 1 is above 0.5, or the class
    of the highest probability where the file has one column per class (a tie goes to the first)."""
    takes = {METRIC_INFO[column.name].takes for column in task.columns}
    probabilities = "probabilities" in takes
    predictions = csv_format.read_submission(data, solution, csv_settings(task), probabilities=probabilities)
    truth = solution_targets(solution)
    if predictions.shape[1] == 1 and truth.ndim == 1:
        predictions = predictions[:, 0]
    labels = predicted_labels(predictions, probabilities=probabilities, classes=bool(solution.classes))
    splits = {False: solution.public, True: solution.private_kept}

    def value(column: MetricColumn, private: bool) -> float | None:
        predicted = labels if METRIC_INFO[column.name].takes == "labels" else predictions
        return columns.on_rows(splits[private], lambda rows: columns.evaluate(column, truth[rows], predicted[rows]))

    return columns.column_values(task, value)


def predicted_labels(predictions: np.ndarray, *, probabilities: bool, classes: bool) -> np.ndarray:
    """What a label metric reads of a file: one column per class gives each row's highest (argmax, a tie to the
    first class); one probability of class 1 per row gives 1 above LABEL_THRESHOLD, else 0; labels stay labels."""
    if classes and predictions.ndim == 2:
        return np.argmax(predictions, axis=1)
    if probabilities and predictions.ndim == 1:
        return (predictions > LABEL_THRESHOLD).astype(predictions.dtype)
    return predictions


def score_masks(data: bytes, truth: masks.Masks, task: Task, limits: ArchiveLimits) -> ColumnValues:
    """Every column of a masks task (dice, iou, each with its parameters) over the public and the private cases."""
    predicted = masks.read_submission(data, truth, limits=limits)
    # One pass over the pixels for every column and both splits (the columns agree on `classes`: checked when the
    # task is applied); each split then sums its own images' counts.
    with columns.naming(task.primary_column):
        counts = metrics.mask_counts(truth.labels, predicted, truth.classes)
    splits = {False: ~truth.private, True: truth.private}

    def value(column: MetricColumn, private: bool) -> float | None:
        return columns.on_rows(splits[private],
                               lambda rows: metrics.evaluate_counts(column.name, counts.rows(rows), column.parameters))

    return columns.column_values(task, value)


def score_detections(data: bytes, truth: coco.CocoTruth, task: Task) -> tuple[dict[str, float], dict[str, float],
                                                                                 int]:
    """Every column of a coco task (map, map50, map75) from one COCO evaluation per split (a split whose images have
    no true box reports the other's), and the number of detections."""
    detections = coco.read_submission(data, truth)
    evaluations = {private: coco.coco_ap(truth, detections, private=private) for private in (False, True)}

    def value(column: MetricColumn, private: bool) -> float | None:
        return evaluations[private][COCO_KEYS[column.name]]

    public, private = columns.column_values(task, value)
    return public, private, len(detections.scores)
