"""PSNR of a prediction against its ground truth, the fixed public/private split of a task's samples, and
the per-sample loop that turns a stream of (prediction, truth) pairs into per-sample values and split means.

PSNR = 10·log10(data_range² / mse). An exact match (mse = 0) would be +inf; it is reported as `cap_db` (100 dB
by default), and every value is clamped to at most `cap_db`, so every score stays finite and comparable. 100 dB
is an rms error of 1e-5 of the data range (about 100 float32 steps near 1.0): anything closer counts as exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from proto.competition import Split

DEFAULT_CAP_DB = 100.0
"""The value of an exact match, and the most any sample can score."""

Progress = Callable[[int, int], None]


def psnr(
    pred: np.ndarray,
    truth: np.ndarray,
    scratch: np.ndarray,
    data_range: float = 1.0,
    cap_db: float = DEFAULT_CAP_DB,
) -> float:
    """PSNR in dB of `pred` against `truth` (same shape, finite values), using `scratch` (float32, at least
    `truth.size` elements) for the difference.

    The difference goes into the preallocated buffer and the sum of squares is one BLAS dot: no temporaries,
    so a per-file loop stays in cache. Symmetric in `pred` and `truth`; identical inputs give `cap_db`.
    """
    if pred.shape != truth.shape:
        raise ValueError(f"shapes differ: {pred.shape} and {truth.shape}")
    if data_range <= 0 or not math.isfinite(cap_db):
        raise ValueError("data_range must be positive and cap_db finite")
    difference = scratch.reshape(-1)[: truth.size].reshape(truth.shape)
    with np.errstate(over="ignore"):  # overflow is detected below and handled, not warned about
        np.subtract(pred, truth, out=difference)
        flat = difference.reshape(-1)
        sum_of_squares = float(np.dot(flat, flat))
    if not math.isfinite(sum_of_squares):
        # float32 squares overflow once errors reach ~1e16 per value; such a prediction still gets a finite score.
        wide = np.subtract(pred, truth, dtype=np.float64).reshape(-1)
        sum_of_squares = float(np.dot(wide, wide))
    mse = sum_of_squares / truth.size
    if mse == 0.0:
        return cap_db
    return min(10.0 * math.log10(data_range * data_range / mse), cap_db)


def split_assignment(n_samples: int, private_fraction: float, seed: int) -> np.ndarray:
    """Which samples are private, as a bool array: the task's split as `proto` defines it for every scorer."""
    if n_samples < 0 or not 0.0 <= private_fraction <= 1.0:
        raise ValueError("n_samples must be ≥ 0 and private_fraction within [0, 1]")
    return np.array(Split(private_fraction=private_fraction, seed=seed).private_samples(n_samples), dtype=bool)


@dataclass(frozen=True)
class SampleScores:
    """Per-sample PSNR values in input order, and the mean over each split (None where a split is empty)."""

    values: list[float]
    public_mean: float | None
    private_mean: float | None


def score_samples(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]],
    private_mask: np.ndarray,
    *,
    data_range: float = 1.0,
    cap_db: float = DEFAULT_CAP_DB,
    progress: Progress | None = None,
) -> SampleScores:
    """PSNR of each (prediction, truth) pair, consumed one at a time with one scratch buffer reused throughout;
    `progress(done, total)` is called after each sample. There must be exactly one pair per mask entry."""
    total = len(private_mask)
    values: list[float] = []
    scratch = np.empty(0, dtype=np.float32)
    for pred, truth in pairs:
        if len(values) == total:
            raise ValueError(f"more pairs than the {total} samples of the split")
        if scratch.size < truth.size:
            scratch = np.empty(truth.size, dtype=np.float32)
        values.append(psnr(pred, truth, scratch, data_range, cap_db))
        if progress is not None:
            progress(len(values), total)
    if len(values) != total:
        raise ValueError(f"{len(values)} pairs for {total} samples")
    return SampleScores(values, *split_means(values, private_mask))


def split_means(values: list[float], private_mask: np.ndarray) -> tuple[float | None, float | None]:
    """(public mean, private mean) of per-sample values; None for an empty split. fsum keeps the mean
    independent of summation order."""
    public = [value for value, private in zip(values, private_mask, strict=True) if not private]
    private = [value for value, private in zip(values, private_mask, strict=True) if private]
    return _mean(public), _mean(private)


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None
