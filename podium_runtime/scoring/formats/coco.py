"""The `coco` format (object detection): a COCO detection-results JSON, a list of `{image_id, category_id,
bbox: [x, y, w, h], score}`, checked against a COCO ground-truth file (`images`, `annotations`, `categories`) and
scored by COCO's mAP (AP over IoU 0.50:0.95, AP50, AP75) through faster-coco-eval, on the public or the private
images (the task's seeded split over the images in id order).

Both files are decoded by msgspec into typed records, so a missing or wrong-typed key is refused with the entry's
index; the ids, boxes, scores and counts are then checked as arrays.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
from faster_coco_eval import COCO, COCOeval_faster  # pyright: ignore[reportMissingTypeStubs]

from podium_runtime.scoring.refusals import GroundTruthRejected, SubmissionRefused
from proto.competition import Split

# A results file this large already holds about a million detections: more than any honest submission needs.
MAX_SUBMISSION_BYTES = 64 << 20
# COCO's own maxDets: its AP reads the 100 best-scored detections of each image and ignores the rest.
MAX_DETECTIONS_PER_IMAGE = 100
# Ids quoted in a refusal (the first few of those at fault).
_QUOTED = 5
_METRICS = ("ap", "ap50", "ap75")


class Detection(msgspec.Struct, frozen=True):
    """One entry of a results file; other keys (e.g. `segmentation`, `area`) are ignored."""

    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    score: float


class _Image(msgspec.Struct, frozen=True):
    id: int


class _Category(msgspec.Struct, frozen=True):
    id: int


class _Annotation(msgspec.Struct, frozen=True):
    id: int
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]


class _GroundTruthFile(msgspec.Struct, frozen=True):
    images: list[_Image]
    annotations: list[_Annotation]
    categories: list[_Category]


_truth_decoder = msgspec.json.Decoder(_GroundTruthFile)
_results_decoder = msgspec.json.Decoder(list[Detection])


@dataclass(frozen=True)
class CocoTruth:
    """A checked ground truth: the file as COCO reads it, its image ids in order (sorted), which of them are
    private, and its category ids."""

    document: dict[str, Any]
    image_ids: np.ndarray
    private: np.ndarray
    category_ids: np.ndarray


@dataclass(frozen=True)
class Detections:
    """A checked results file, one row per detection: image and category ids, boxes (n×4, x y w h) and scores."""

    image_ids: np.ndarray
    category_ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray


def read_ground_truth(data: bytes, split: Split) -> CocoTruth:
    """A host's COCO ground-truth JSON; raises GroundTruthRejected with what to fix."""
    try:
        parsed = _truth_decoder.decode(data)
    except msgspec.DecodeError as error:
        raise GroundTruthRejected(f"the ground truth is not a COCO ground-truth JSON: {error}") from None
    image_ids = np.array(sorted(image.id for image in parsed.images), dtype=np.int64)
    category_ids = np.array(sorted(category.id for category in parsed.categories), dtype=np.int64)
    for ids, what in ((image_ids, "image"), (category_ids, "category")):
        if len(ids) == 0:
            raise GroundTruthRejected(f"the ground truth has no {what}s")
        if (repeated := ids[1:][ids[1:] == ids[:-1]]).size:
            raise GroundTruthRejected(f"the ground truth lists {what} id {int(repeated[0])} twice")
    if not parsed.annotations:
        raise GroundTruthRejected("the ground truth has no annotations: without a true box there is no AP to compute")
    annotation_ids = [annotation.id for annotation in parsed.annotations]
    if len(set(annotation_ids)) != len(annotation_ids):
        raise GroundTruthRejected("the ground truth's annotation ids are not unique")
    for index, annotation in enumerate(parsed.annotations):
        where = f"the ground truth's annotations[{index}]"
        if annotation.image_id not in image_ids or annotation.category_id not in category_ids:
            raise GroundTruthRejected(f"{where}: its image_id or category_id is not among the images or categories")
        if not all(math.isfinite(value) for value in annotation.bbox) or min(annotation.bbox[2:]) < 0:
            raise GroundTruthRejected(f"{where}: bbox must be 4 finite numbers [x, y, w, h] with w, h ≥ 0")
    document = msgspec.json.decode(data)
    private = np.array(split.private_samples(len(image_ids)), dtype=bool)
    return CocoTruth(document=document, image_ids=image_ids, private=private, category_ids=category_ids)


def read_submission(data: bytes, truth: CocoTruth, *, max_per_image: int = MAX_DETECTIONS_PER_IMAGE) -> Detections:
    """A participant's results JSON, checked against `truth`; raises SubmissionRefused with what is wrong and
    where (the entry's index, the ids at fault)."""
    if len(data) > MAX_SUBMISSION_BYTES:
        raise SubmissionRefused(f"the results file is {len(data)} bytes; the limit is {MAX_SUBMISSION_BYTES} bytes")
    try:
        entries = _results_decoder.decode(data)
    except msgspec.DecodeError as error:
        raise SubmissionRefused(
            "the file must be a JSON list of detections {image_id, category_id, bbox: [x, y, w, h], score}: "
            f"{_where(error)}"
        ) from None
    detections = Detections(
        image_ids=np.fromiter((entry.image_id for entry in entries), dtype=np.int64, count=len(entries)),
        category_ids=np.fromiter((entry.category_id for entry in entries), dtype=np.int64, count=len(entries)),
        boxes=np.array([entry.bbox for entry in entries], dtype=np.float64).reshape(len(entries), 4),
        scores=np.fromiter((entry.score for entry in entries), dtype=np.float64, count=len(entries)),
    )
    _check_ids(detections.image_ids, truth.image_ids, "image_id", "images")
    _check_ids(detections.category_ids, truth.category_ids, "category_id", "categories")
    _check_values(detections)
    _check_counts(detections.image_ids, len(truth.image_ids), max_per_image)
    return detections


def coco_ap(truth: CocoTruth, detections: Detections, *, private: bool) -> dict[str, float | None]:
    """COCO's bbox AP (IoU 0.50:0.95), AP50 and AP75 over the private images (`private`) or the public ones.
    None where those images have no ground-truth box (COCO's -1: nothing to detect, so no AP)."""
    image_ids = truth.image_ids[truth.private == private]
    if not image_ids.size:
        return dict.fromkeys(_METRICS)
    ground_truth = COCO(copy.deepcopy(truth.document), print_function=_silent)
    rows = np.column_stack(
        [detections.image_ids, detections.boxes, detections.scores, detections.category_ids]
    ).astype(np.float64)
    results = ground_truth.loadRes(rows if len(rows) else [])  # pyright: ignore[reportUnknownMemberType]
    evaluation = COCOeval_faster(ground_truth, results, iouType="bbox", print_function=_silent)
    evaluation.params.imgIds = [int(image_id) for image_id in image_ids]
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    stats: list[float] = [float(value) for value in evaluation.stats[:3]]  # pyright: ignore
    return {name: (None if value < 0 else value) for name, value in zip(_METRICS, stats, strict=True)}


def _silent(*_: object, **__: object) -> None:
    """faster-coco-eval's print_function: a scorer's stdout is no place for COCO's summary table."""


def _where(error: msgspec.DecodeError) -> str:
    """msgspec's reason with the entry first: `… - at `$[3].bbox`` becomes `entry [3].bbox: …` (counted from 0)."""
    text = str(error)
    located = re.fullmatch(r"(.*) - at `\$(\[\d+\].*)`", text, flags=re.DOTALL)
    return f"entry {located[2]}: {located[1]}" if located else text


def _check_ids(ids: np.ndarray, known: np.ndarray, key: str, listed: str) -> None:
    unknown = ~np.isin(ids, known)
    if unknown.any():
        first = int(np.flatnonzero(unknown)[0])
        quoted = _first_few(ids[unknown])
        raise SubmissionRefused(
            f"{int(unknown.sum())} detections have a {key} not in the ground truth's {listed}: {quoted} (the first "
            f"at entry [{first}])"
        )


def _first_few(values: np.ndarray) -> str:
    distinct = list(dict.fromkeys(int(value) for value in values[: _QUOTED * 100]))
    shown = ", ".join(str(value) for value in distinct[:_QUOTED])
    return shown + (", …" if len(distinct) > _QUOTED or len(values) > _QUOTED * 100 else "")


def _check_values(detections: Detections) -> None:
    boxes, scores = detections.boxes, detections.scores
    bad_box = ~np.isfinite(boxes).all(axis=1) | (boxes[:, 2] < 0) | (boxes[:, 3] < 0)
    if bad_box.any():
        first = int(np.flatnonzero(bad_box)[0])
        raise SubmissionRefused(
            f"entry [{first}]: bbox {boxes[first].tolist()} must be 4 finite numbers [x, y, width, height] with "
            "width and height ≥ 0"
        )
    bad_score = ~np.isfinite(scores)
    if bad_score.any():
        first = int(np.flatnonzero(bad_score)[0])
        raise SubmissionRefused(f"entry [{first}]: score {scores[first]} must be a finite number")


def _check_counts(image_ids: np.ndarray, n_images: int, max_per_image: int) -> None:
    if len(image_ids) > max_per_image * n_images:
        raise SubmissionRefused(
            f"{len(image_ids)} detections; the limit is {max_per_image} per image, {max_per_image * n_images} for "
            f"the {n_images} images"
        )
    if not len(image_ids):
        return
    images, counts = np.unique(image_ids, return_counts=True)
    if (crowded := counts > max_per_image).any():
        image = int(images[crowded][0])
        raise SubmissionRefused(
            f"image {image} has {int(counts[crowded][0])} detections; the limit is {max_per_image} per image (COCO's "
            f"AP reads only the best-scored {max_per_image}); keep the highest-scoring ones"
        )
