"""`python -m bench.masks_decode`: scoring a segmentation submission, 10,000 PNG label masks of 256×256 with 4
classes in one ZIP, against its ground truth: the whole path (read, check, per-class Dice), ours against the
script a host writes today (zipfile + PIL.Image.open + np.array per member into a list, then per-image Dice with
numpy), side by side in one run, as a ratio (the issue's target: ≥ 5×)."""

from __future__ import annotations

import argparse
import io
import os
import time
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from podium_runtime.scoring import metrics
from podium_runtime.scoring.formats import masks
from proto.competition import Split

CLASSES = 4
SIZE = 256


def blobs(rng: np.random.Generator) -> np.ndarray:
    """A plausible label mask: background and a few filled discs of the other classes."""
    rows, columns = np.ogrid[:SIZE, :SIZE]
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    for label in rng.integers(1, CLASSES, 6):
        y, x = rng.integers(0, SIZE, 2)
        radius = int(rng.integers(8, 60))
        mask[(rows - y) ** 2 + (columns - x) ** 2 < radius**2] = label
    return mask


def build(cases: int, seed: int) -> tuple[bytes, bytes]:
    """The ground truth and a submission (the truth shifted by a few pixels), both as ZIPs of PNGs."""
    rng = np.random.default_rng(seed)
    archives = {"truth": io.BytesIO(), "submission": io.BytesIO()}
    with (zipfile.ZipFile(archives["truth"], "w", zipfile.ZIP_DEFLATED) as truth,
          zipfile.ZipFile(archives["submission"], "w", zipfile.ZIP_DEFLATED) as submission):
        for index in range(cases):
            mask = blobs(rng)
            for archive, labels in ((truth, mask), (submission, np.roll(mask, 3, axis=1))):
                encoded = io.BytesIO()
                Image.fromarray(labels).save(encoded, "PNG")
                archive.writestr(f"case_{index:05d}.png", encoded.getvalue())
    return archives["truth"].getvalue(), archives["submission"].getvalue()


def ours(submission: bytes, truth: masks.Masks) -> np.ndarray:
    """The scorer's path: the checked reader (threads), then the metric library's counts (over all pixels, as the
    reference sums them)."""
    return metrics.per_class_dice(truth.labels, masks.read_submission(submission, truth), CLASSES, "pixels")


def reference(submission: bytes, truth: masks.Masks) -> np.ndarray:
    """What a host writes today: open each member with PIL, np.array it, then Dice image by image."""
    predictions = []
    with zipfile.ZipFile(io.BytesIO(submission)) as archive:
        for case in truth.case_ids:
            with archive.open(f"{case}.png") as member:
                predictions.append(np.array(Image.open(member)))
    overlap, predicted, actual = np.zeros(CLASSES), np.zeros(CLASSES), np.zeros(CLASSES)
    for prediction, labels in zip(predictions, truth.labels, strict=True):
        for label in range(CLASSES):
            p, t = prediction == label, labels == label
            overlap[label] += np.sum(p & t)
            predicted[label] += np.sum(p)
            actual[label] += np.sum(t)
    return 2 * overlap / (predicted + actual)


def timed(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    truth_zip, submission = build(options.cases, options.seed)
    truth = masks.read_ground_truth(truth_zip, CLASSES, Split(seed=options.seed))
    ours_s, ours_dice = timed(lambda: ours(submission, truth), options.repeats)
    reference_s, reference_dice = timed(lambda: reference(submission, truth), options.repeats)
    np.testing.assert_allclose(ours_dice, reference_dice)  # the same figures, or the timings mean nothing
    print(f"masks: {options.cases} PNG label masks {SIZE}×{SIZE}, {CLASSES} classes, {len(submission) / 2**20:.1f} MiB "
          f"ZIP, {os.cpu_count()} CPUs; per-class Dice {np.round(ours_dice, 4).tolist()}")
    print(f"  reference (zipfile + PIL + per-image numpy Dice): {reference_s:7.2f} s")
    print(f"  ours (checked reader, threads + vectorised Dice): {ours_s:7.2f} s   {reference_s / ours_s:5.1f}× faster")


if __name__ == "__main__":
    main()
