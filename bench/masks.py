"""`python -m bench.masks`: per-class Dice of 10,000 label masks of 256×256 with 4 classes, the metric library's
counts side by side in one run with the per-image Python loop a host writes today (numpy per image),
as a ratio. Decoding the PNGs is measured apart (the masks format's bench); this is the metric alone."""

from __future__ import annotations

import os

# One core for everyone, as in bench.scoring: thread pools would blur the ratios. Set before numpy starts its pools.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from podium_runtime.scoring.metrics import per_class_dice  # noqa: E402

SIDE = 256
CLASSES = 4
BLOCK = 16
"""Masks are made of 16×16 blocks of one class (regions, as real masks have), predictions wrong on some blocks and
on scattered pixels."""


def generate(n_masks: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Truth and prediction stacks (n×256×256 uint8), built in memory a slice at a time."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, CLASSES, (n_masks, SIDE // BLOCK, SIDE // BLOCK), dtype=np.uint8)
    wrong_blocks = rng.random(coarse.shape) < 0.1
    coarse_prediction = np.where(wrong_blocks, rng.integers(0, CLASSES, coarse.shape, dtype=np.uint8), coarse)
    truth = np.empty((n_masks, SIDE, SIDE), dtype=np.uint8)
    prediction = np.empty_like(truth)
    for start in range(0, n_masks, 500):
        stop = min(start + 500, n_masks)
        truth[start:stop] = coarse[start:stop].repeat(BLOCK, 1).repeat(BLOCK, 2)
        upsampled = coarse_prediction[start:stop].repeat(BLOCK, 1).repeat(BLOCK, 2)
        noise = rng.random(upsampled.shape, dtype=np.float32) < 0.02
        prediction[start:stop] = np.where(noise, (upsampled + 1) % CLASSES, upsampled)
    return truth, prediction


def reference(truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """The host's script: for each image, for each class, Dice from boolean masks; the mean per class over the
    images where the class appears in the truth or the prediction (the library's default)."""
    totals, counts = np.zeros(CLASSES), np.zeros(CLASSES)
    for true_mask, predicted_mask in zip(truth, prediction, strict=True):
        for label in range(CLASSES):
            in_truth, in_prediction = true_mask == label, predicted_mask == label
            denominator = in_truth.sum() + in_prediction.sum()
            if denominator:
                totals[label] += 2 * np.logical_and(in_truth, in_prediction).sum() / denominator
                counts[label] += 1
    return totals / counts


def reference_tuned(truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """The same loop written for speed (np.count_nonzero instead of .sum() on booleans): context, not the target."""
    totals, counts = np.zeros(CLASSES), np.zeros(CLASSES)
    for true_mask, predicted_mask in zip(truth, prediction, strict=True):
        for label in range(CLASSES):
            in_truth, in_prediction = true_mask == label, predicted_mask == label
            denominator = np.count_nonzero(in_truth) + np.count_nonzero(in_prediction)
            if denominator:
                totals[label] += 2 * np.count_nonzero(in_truth & in_prediction) / denominator
                counts[label] += 1
    return totals / counts


def timed(repeats: int, run: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    """Best wall time in seconds over `repeats` runs, and the last result."""
    best, result = float("inf"), np.empty(0)
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--masks", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    truth, prediction = generate(args.masks, args.seed)
    print(
        f"Per-class Dice of {args.masks} masks of {SIDE}×{SIDE} uint8 with {CLASSES} classes "
        f"({truth.nbytes / 2**20:.0f} MiB a side), ours best of {args.repeats}, one thread; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}\n"
    )
    ours_s, ours = timed(args.repeats, lambda: per_class_dice(truth, prediction, CLASSES))
    # The loops run once: each takes seconds, and their spread is small next to the ratio.
    reference_s, expected = timed(1, lambda: reference(truth, prediction))
    tuned_s, tuned = timed(1, lambda: reference_tuned(truth, prediction))
    if not (np.allclose(ours, expected, rtol=1e-12) and np.allclose(ours, tuned, rtol=1e-12)):
        raise SystemExit(f"the methods disagree: ours {ours}, reference {expected}, tuned {tuned}")

    header = f"{'method':<42} {'s':>7} {'Mpixel/s':>9} {'vs ours':>8}"
    print(header)
    print("-" * len(header))
    pixels = truth.size / 1e6
    for method, seconds in (
        ("ours (the metric library, podium_runtime)", ours_s),
        ("reference (per-image loop, .sum())", reference_s),
        ("tuned reference (per-image, count_nonzero)", tuned_s),
    ):
        print(f"{method:<42} {seconds:>7.2f} {pixels / seconds:>9.0f} {seconds / ours_s:>7.2f}×")
    print(f"\nper-class Dice (all methods agree): {', '.join(f'{value:.4f}' for value in ours)}")
    print(f"target: reference/ours ≥ 5× — measured {reference_s / ours_s:.2f}×")


if __name__ == "__main__":
    main()
