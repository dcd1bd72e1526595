"""PSNR per sample, the public/private split and the per-sample loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cpu_scorer.psnr import DEFAULT_CAP_DB, psnr, score_samples, split_assignment, split_means

SHAPE = (3, 32, 32)


def reference_psnr(pred: np.ndarray, truth: np.ndarray, data_range: float) -> float:
    """The textbook formula in float64 with torch, nothing shared with the code under test."""
    mse = torch.mean((torch.from_numpy(pred).double() - torch.from_numpy(truth).double()) ** 2).item()
    return 10.0 * math.log10(data_range**2 / mse)


def pair(noise: float, seed: int = 0, shape: tuple[int, ...] = SHAPE) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.random(shape, dtype=np.float32)
    return (truth + rng.normal(0.0, noise, shape)).astype(np.float32), truth


def scratch_for(array: np.ndarray) -> np.ndarray:
    return np.empty(array.size, dtype=np.float32)


@pytest.mark.parametrize("noise", [1e-4, 1e-3, 0.01, 0.1, 1.0])
@pytest.mark.parametrize("data_range", [1.0, 255.0])
def test_psnr_matches_the_reference_formula_within_1e_4_db(noise: float, data_range: float) -> None:
    pred, truth = pair(noise, shape=(3, 256, 256))
    pred, truth = pred * data_range, truth * data_range
    value = psnr(pred, truth, scratch_for(truth), data_range)
    assert value == pytest.approx(reference_psnr(pred, truth, data_range), abs=1e-4)


def test_an_exact_match_scores_the_cap() -> None:
    _, truth = pair(0.0)
    assert psnr(truth.copy(), truth, scratch_for(truth)) == DEFAULT_CAP_DB
    assert psnr(truth.copy(), truth, scratch_for(truth), cap_db=60.0) == 60.0


def test_a_near_match_is_clamped_to_the_cap() -> None:
    _, truth = pair(0.0)
    pred = np.nextafter(truth, np.float32(2.0))
    assert reference_psnr(pred, truth, 1.0) > DEFAULT_CAP_DB
    assert psnr(pred, truth, scratch_for(truth)) == DEFAULT_CAP_DB


def test_a_huge_error_still_scores_a_finite_value() -> None:
    # float32 squares overflow here; the score falls back to float64 instead of becoming -inf or NaN.
    _, truth = pair(0.0)
    pred = np.full_like(truth, 3e38)
    value = psnr(pred, truth, scratch_for(truth))
    assert math.isfinite(value)
    assert value == pytest.approx(10 * math.log10(1 / 9e76), abs=1e-3)


def test_the_scratch_buffer_may_be_larger_than_the_sample() -> None:
    pred, truth = pair(0.01)
    assert psnr(pred, truth, np.empty(truth.size * 2, np.float32)) == pytest.approx(
        reference_psnr(pred, truth, 1.0), abs=1e-4
    )


def test_shapes_must_agree() -> None:
    pred, truth = pair(0.01)
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(pred.reshape(-1), truth, scratch_for(truth))


finite_images = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=1, max_dims=3, max_side=8),
    elements=st.floats(-1e6, 1e6, width=32, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=200, deadline=None)
@given(image=finite_images, data_range=st.floats(1e-3, 1e3), cap_db=st.floats(10.0, 200.0))
def test_psnr_of_identical_inputs_is_the_cap(image: np.ndarray, data_range: float, cap_db: float) -> None:
    assert psnr(image, image.copy(), scratch_for(image), data_range, cap_db) == cap_db


@settings(max_examples=200, deadline=None)
@given(data=st.data(), image=finite_images)
def test_psnr_is_symmetric(data: st.DataObject, image: np.ndarray) -> None:
    other = data.draw(hnp.arrays(np.float32, image.shape, elements=st.floats(-1e6, 1e6, width=32)))
    scratch = scratch_for(image)
    forward, backward = psnr(image, other, scratch), psnr(other, image, scratch)
    assert forward == backward
    assert forward <= DEFAULT_CAP_DB


# --- the split --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "fraction"), [(0, 0.5), (1, 0.5), (10, 0.0), (10, 1.0), (300, 0.5), (301, 0.3)])
def test_the_split_has_exactly_round_n_fraction_private_samples(n: int, fraction: float) -> None:
    mask = split_assignment(n, fraction, seed=1)
    assert mask.dtype == bool
    assert mask.shape == (n,)
    assert int(mask.sum()) == round(n * fraction)


def test_the_split_is_fixed_for_a_seed() -> None:
    # A golden value: the split of a running competition must never move (numpy upgrades included).
    assert np.flatnonzero(split_assignment(10, 0.3, seed=7)).tolist() == [0, 6, 9]
    assert np.array_equal(split_assignment(300, 0.5, seed=7), split_assignment(300, 0.5, seed=7))


def test_different_seeds_give_different_splits() -> None:
    assert not np.array_equal(split_assignment(300, 0.5, seed=1), split_assignment(300, 0.5, seed=2))


@pytest.mark.parametrize(("n", "fraction"), [(-1, 0.5), (10, -0.1), (10, 1.5)])
def test_the_split_refuses_impossible_arguments(n: int, fraction: float) -> None:
    with pytest.raises(ValueError):
        split_assignment(n, fraction, seed=0)


# --- the per-sample loop ----------------------------------------------------------------------------------------


def test_score_samples_gives_per_sample_values_and_split_means() -> None:
    pairs = [pair(noise, seed) for seed, noise in enumerate([0.01, 0.02, 0.05, 0.1])]
    mask = np.array([False, True, False, True])
    calls: list[tuple[int, int]] = []

    scores = score_samples(iter(pairs), mask, progress=lambda done, total: calls.append((done, total)))

    expected = [reference_psnr(pred, truth, 1.0) for pred, truth in pairs]
    assert scores.values == pytest.approx(expected, abs=1e-4)
    assert scores.public_mean == pytest.approx((expected[0] + expected[2]) / 2, abs=1e-4)
    assert scores.private_mean == pytest.approx((expected[1] + expected[3]) / 2, abs=1e-4)
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_score_samples_accepts_samples_of_different_shapes() -> None:
    pairs = [pair(0.01, 0, (3, 8, 8)), pair(0.01, 1, (3, 16, 16)), pair(0.01, 2, (2, 4))]
    scores = score_samples(pairs, np.zeros(3, dtype=bool))
    assert scores.values == pytest.approx([reference_psnr(p, t, 1.0) for p, t in pairs], abs=1e-4)


def test_an_empty_split_has_no_mean() -> None:
    assert split_means([30.0, 40.0], np.array([False, False])) == (35.0, None)
    assert split_means([30.0, 40.0], np.array([True, True])) == (None, 35.0)


@pytest.mark.parametrize("count", [2, 4])
def test_score_samples_needs_one_pair_per_sample(count: int) -> None:
    pairs = [pair(0.01, seed) for seed in range(count)]
    with pytest.raises(ValueError):
        score_samples(pairs, np.zeros(3, dtype=bool))
