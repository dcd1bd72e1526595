"""Ground truth: what a task's submissions are scored against, one object per task in the `ground-truth` bucket,
named with its sha256 in the competition. Read here by both scorers (kept in memory between submissions) and by
submission_service, which checks a host's upload against the task before it may become current: the same reader
does both, so a file that passes the check is a file the scorer can use.

- a tensor task (`kind = "cpu"`): a ZIP of `<sample>.npy`, one float array of the task's shape per sample;
- a model task (`kind = "gpu"`): an `.npz` with `x` (samples × the task's shape) and `y` (integer labels);
- a csv task (`format = "csv"`): a solution CSV (an id column, the targets, `Usage`), `formats.csv.read_solution`;
- a masks task (`format = "masks"`): a ZIP of `<case>.png` label images, `formats.masks.read_ground_truth`;
- a coco task (`format = "coco"`): a COCO ground-truth JSON, `formats.coco.read_ground_truth`;
- a file task (`format = "file"`, scored by the host's program): any file, which the program reads.

None is read with pickle."""

from __future__ import annotations

import asyncio
import hashlib
import io
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
from minio import Minio

from podium_runtime import connections
from podium_runtime.scoring import metrics
from podium_runtime.scoring.formats import coco, masks
from podium_runtime.scoring.formats.csv import CsvSettings, Solution, read_solution
from podium_runtime.scoring.refusals import GroundTruthRejected, SubmissionRefused
from proto.competition import MASK_CLASSES, Task
from proto.metrics import METRIC_INFO

BUCKET = "ground-truth"
# What a host's ground truth may weigh (uploads larger than this are refused before any byte is read).
MAX_BYTES = 2 * 1024**3
T = TypeVar("T")


__all__ = ["BUCKET", "GroundTruthCache", "GroundTruthMissing", "GroundTruthRejected", "TestSet", "check", "extension"]


class GroundTruthMissing(RuntimeError):
    """The task has no usable ground truth (none put yet, or the stored object is not the one recorded): a fault of
    the platform's data, never of the participant."""


@dataclass(frozen=True)
class TestSet:
    x: np.ndarray
    y: np.ndarray


def parse_arrays(data: bytes, task: Task) -> dict[str, np.ndarray]:
    """A tensor task's ground truth: `<sample>.npy` for every sample of the task, each of the task's shape."""
    arrays: dict[str, np.ndarray] = {}
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise GroundTruthRejected(f"the ground truth of task {task.id} must be a ZIP of .npy files") from None
    with archive:
        names = set(archive.namelist())
        for sample in task.sample_names():
            member = f"{sample}.npy"
            if member not in names:
                raise GroundTruthRejected(f"the ground truth of task {task.id} lacks {member} (the task has "
                                          f"{task.samples} samples named like {task.sample_names()[0]}.npy)")
            try:
                array = np.load(io.BytesIO(archive.read(member)), allow_pickle=False)
            except (ValueError, OSError, zipfile.BadZipFile) as exc:
                raise GroundTruthRejected(f"ground truth {member} is not a .npy array: {str(exc)[:200]}") from None
            if tuple(array.shape) != tuple(task.shape):
                raise GroundTruthRejected(f"ground truth {member} has shape {list(array.shape)}, the task says "
                                          f"{list(task.shape)}")
            if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
                raise GroundTruthRejected(f"ground truth {member} has dtype {array.dtype}; a number type is needed")
            arrays[sample] = np.ascontiguousarray(array, dtype=np.float32)
    return arrays


def parse_test_set(data: bytes, task: Task) -> TestSet:
    """A model task's hidden test set: `x` of the task's sample shape and integer labels `y` within its classes."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            if "x" not in archive or "y" not in archive:
                raise GroundTruthRejected(f"the test set of task {task.id} needs arrays x and y, got "
                                          f"{sorted(archive.files)[:10]}")
            x, y = archive["x"], archive["y"]
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise GroundTruthRejected(f"the test set of task {task.id} must be an .npz of x and y: {str(exc)[:200]}") \
            from None
    if not np.issubdtype(y.dtype, np.integer):
        raise GroundTruthRejected(f"the test set's labels y must be integers, got {y.dtype}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise GroundTruthRejected(f"the test set's samples x must be numbers, got {x.dtype}")
    if x.ndim < 1 or x.shape[1:] != tuple(task.shape) or y.shape != (len(x),) or len(x) == 0:
        raise GroundTruthRejected(f"the test set of task {task.id} has x {list(x.shape)} and y {list(y.shape)}; the "
                                  f"task needs x [n, {', '.join(map(str, task.shape))}] and y [n], n ≥ 1")
    if y.min() < 0 or y.max() >= task.model.classes:
        raise GroundTruthRejected(f"the test set's labels must be 0 to {task.model.classes - 1} (model.classes)")
    return TestSet(x=np.ascontiguousarray(x, dtype=np.float32), y=y.astype(np.int64))


def csv_settings(task: Task) -> CsvSettings:
    """The reader's settings of a csv task: its columns, the reader's own limits."""
    columns = task.csv
    return CsvSettings(id_column=columns.id_column, target_columns=columns.target_columns,
                       prediction_columns=columns.prediction_columns)


def parse_solution(data: bytes, task: Task) -> Solution:
    """A csv task's solution, checked by the format's reader and against every column's metric: its targets must be
    what each metric scores (class labels 0 and 1 for a binary AUC, say)."""
    try:
        solution = read_solution(data, csv_settings(task))
    except ValueError as exc:
        raise GroundTruthRejected(f"the solution of task {task.id}: {exc}") from None
    kept = solution_targets(solution)[solution.kept]
    # The truth scored against itself (or against even odds, for probabilities) shows a target a metric cannot
    # take; a split with one class only is the data's, reported per submission (MetricUndefined).
    width = max(len(solution.classes), 1)
    guess = np.full((len(kept), width) if solution.classes else kept.shape, 1 / (width if solution.classes else 2))
    for column in task.columns:
        if METRIC_INFO[column.name].takes == "program":
            continue  # the host's program reads the solution its own way; the reader's checks above still hold
        probabilities = METRIC_INFO[column.name].takes == "probabilities"
        try:
            metrics.evaluate(column.name, kept, guess if probabilities else kept, column.parameters)
        except SubmissionRefused:
            pass
        except ValueError as exc:
            raise GroundTruthRejected(f"the solution of task {task.id} cannot be scored by {column.name} (column "
                                      f"{column.header}): {exc}") from None
    return solution


def mask_classes(task: Task) -> int:
    """How many classes a masks task's label images have: its columns' `classes` (they agree, checked when the task
    is applied), each column's parameters checked by the metric library."""
    for column in task.columns:
        try:
            metrics.check_parameters(column.name, column.parameters)
        except ValueError as exc:
            raise GroundTruthRejected(f"task {task.id}, column {column.header}: {exc}") from None
    return int(task.primary_column.parameters.get("classes", MASK_CLASSES))


def parse_masks(data: bytes, task: Task) -> masks.Masks:
    """A masks task's ground truth: one `<case>.png` label image per case, all of one size, labels in 0 … classes-1;
    the task's seeded split over the cases (sorted by id)."""
    return masks.read_ground_truth(data, mask_classes(task), task.split)


def parse_coco(data: bytes, task: Task) -> coco.CocoTruth:
    """A coco task's ground truth: a COCO ground-truth JSON with at least one box; the task's seeded split over its
    images (sorted by id)."""
    return coco.read_ground_truth(data, task.split)


def parse_file(data: bytes, task: Task) -> bytes:
    """A file task's ground truth (`format = "file"`, scored by the host's program): any file the program reads, as
    it is; for a Codabench program, a ZIP is its reference data (INPUT/ref)."""
    if not data:
        raise GroundTruthRejected(f"the ground truth of task {task.id} is empty")
    return data


def solution_targets(solution: Solution) -> np.ndarray:
    """What a metric compares with: class numbers for a labelled multi-class task, else the single target column
    as a vector, or the n×k targets."""
    if solution.classes:
        numbers = {label: number for number, label in enumerate(solution.classes)}
        return np.array([numbers.get(label, -1) for label in solution.targets], dtype=np.int64)
    targets = np.asarray(solution.targets, dtype=np.float64)
    return targets[:, 0] if targets.shape[1] == 1 else targets


def check(data: bytes, task: Task) -> None:
    """Raise GroundTruthRejected unless `data` is a ground truth the task's scorer can use. A program task's is read
    by its format's reader too (its submissions are checked against it before the program runs); a `file` task's is
    any non-empty file, its program's to read."""
    PARSERS[task.effective_format](data, task)


def extension(task: Task) -> str:
    """The ground truth's file extension (its object's key ends with it)."""
    return {"csv": ".csv", "coco": ".json", "onnx": ".npz", "file": ""}.get(task.effective_format, ".zip")


def read_object(s3: Minio, key: str, max_bytes: int = MAX_BYTES) -> bytes | None:
    """The object at `key` (None when there is none); one larger than `max_bytes` is refused unread."""
    try:
        return connections.read_object(s3, BUCKET, key, max_bytes)
    except connections.ObjectTooLarge as exc:
        raise GroundTruthRejected(f"the ground truth is {exc.size} bytes, over the limit of {exc.limit}") from None


def read_recorded(s3: Minio, task: Task) -> bytes:
    """The task's ground truth as the competition records it: GroundTruthMissing (the platform's, a retry) when the
    object is not there, or is not the recorded bytes (replaced behind the platform's back: never scored against)."""
    data = read_object(s3, task.ground_truth)
    if data is None:
        raise GroundTruthMissing(f"the ground truth of task {task.id} is missing from storage")
    if hashlib.sha256(data).hexdigest() != task.ground_truth_sha256:
        raise GroundTruthMissing(f"the stored ground truth of task {task.id} is not the one the competition "
                                 "records (its digest differs)")
    return data


class GroundTruthCache(Generic[T]):
    """Each task's parsed ground truth, loaded once per digest and kept for the next submissions (at most
    `max_tasks`). The bytes read must have the digest the competition records: an object replaced behind the
    platform's back is never scored against."""

    def __init__(self, s3: Minio, parse: Callable[[bytes, Task], T], max_tasks: int = 4) -> None:
        self.s3 = s3
        self.parse = parse
        self.max_tasks = max_tasks
        self._entries: OrderedDict[tuple[str, str], T] = OrderedDict()
        self._lock = asyncio.Lock()

    def _load(self, task: Task) -> T:
        return self.parse(read_recorded(self.s3, task), task)

    async def get(self, task: Task) -> T:
        if not task.has_ground_truth:
            raise GroundTruthMissing(f"task {task.id} has no ground truth yet")
        # Keyed by the scoring identity, which holds the digest and everything the parse depends on (shape,
        # samples, their names, classes): the same bytes read for a reshaped task are parsed again.
        key = (task.id, task.scorer_version)
        async with self._lock:  # one load per task even when submissions arrive together
            cached = self._entries.get(key)
            if cached is None:
                cached = await asyncio.to_thread(self._load, task)  # reading, hashing and decoding: off the loop
                self._entries[key] = cached
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_tasks:
                self._entries.popitem(last=False)
            return cached


PARSERS: dict[str, Callable[[bytes, Task], object]] = {
    "tensors": parse_arrays, "csv": parse_solution, "masks": parse_masks, "coco": parse_coco, "onnx": parse_test_set,
    "file": parse_file}
"""The reader of each format's ground truth (`Task.effective_format`): what the check at upload and the scorers use."""
