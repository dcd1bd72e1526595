"""The whole pure pipeline: a submission ZIP and the ground truth in, a ScoreResult out."""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import torch

from cpu_scorer.psnr import DEFAULT_CAP_DB, split_assignment
from cpu_scorer.scoring import ScoreResult, score_archive
from podium_runtime.scoring.archive import ArchiveLimits, ArchiveRejected, readable_size

SHAPE = (3, 16, 16)
N_SAMPLES = 6


def ground_truth(n: int = N_SAMPLES) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    return {f"sample_{index:04d}": rng.random(SHAPE, dtype=np.float32) for index in range(n)}


def predictions(truth: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        name: (array + rng.normal(0.0, 0.01 * (1 + i), SHAPE)).astype(np.float32)
        for i, (name, array) in enumerate(truth.items())
    }


def encode(array: np.ndarray, suffix: str) -> bytes:
    if suffix == ".safetensors":
        return safetensors.numpy.save({"prediction": array})
    buffer = io.BytesIO()
    if suffix == ".pt":
        torch.save(torch.from_numpy(array), buffer)
    else:
        np.save(buffer, array)
    return buffer.getvalue()


def submission(
    arrays: dict[str, np.ndarray], suffixes: list[str] | None = None, method: int = zipfile.ZIP_STORED
) -> bytes:
    suffixes = suffixes or [".pt"] * len(arrays)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for (name, array), suffix in zip(arrays.items(), suffixes, strict=True):
            archive.writestr(f"{name}{suffix}", encode(array, suffix))
    return buffer.getvalue()


def reference(pred: np.ndarray, truth: np.ndarray) -> float:
    return 10 * math.log10(1.0 / float(np.mean((pred.astype(np.float64) - truth) ** 2)))


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_mixed_format_submission_is_scored_per_sample_and_per_split(method: int) -> None:
    truth = ground_truth()
    preds = predictions(truth)
    suffixes = [".pt", ".npy", ".safetensors", ".pt", ".npy", ".safetensors"]
    mask = np.array([False, True, False, True, True, False])

    result = score_archive(submission(preds, suffixes, method), truth, private_mask=mask)

    expected = {name: reference(preds[name], truth[name]) for name in truth}
    assert isinstance(result, ScoreResult)
    assert result.n_samples == N_SAMPLES
    assert list(result.per_sample) == list(truth)
    assert result.per_sample == pytest.approx(expected, abs=1e-4)
    values = list(expected.values())
    assert result.public_mean == pytest.approx(np.mean([v for v, p in zip(values, mask, strict=True) if not p]))
    assert result.private_mean == pytest.approx(np.mean([v for v, p in zip(values, mask, strict=True) if p]))


def test_members_are_scored_in_the_ground_truth_order_whatever_the_zip_order() -> None:
    truth = ground_truth()
    preds = predictions(truth)
    shuffled = dict(reversed(preds.items()))
    mask = split_assignment(N_SAMPLES, 0.5, seed=3)

    forward = score_archive(submission(preds), truth, private_mask=mask)
    backward = score_archive(submission(shuffled), truth, private_mask=mask)

    assert forward == backward


def test_a_perfect_submission_scores_the_cap_on_both_splits() -> None:
    truth = ground_truth()
    result = score_archive(submission(truth), truth, private_mask=split_assignment(N_SAMPLES, 0.5, seed=1), cap_db=80.0)
    assert result.public_mean == result.private_mean == 80.0
    assert set(result.per_sample.values()) == {80.0}


def test_the_data_range_is_applied() -> None:
    truth = {name: array * 255 for name, array in ground_truth().items()}
    preds = {name: array * 255 for name, array in predictions(ground_truth()).items()}
    mask = np.zeros(N_SAMPLES, dtype=bool)
    result = score_archive(submission(preds), truth, data_range=255.0, private_mask=mask)
    unit = score_archive(submission(predictions(ground_truth())), ground_truth(), private_mask=mask)
    assert result.public_mean == pytest.approx(unit.public_mean, abs=1e-3)
    assert result.private_mean is None


def test_progress_is_reported_after_each_sample() -> None:
    truth = ground_truth()
    calls: list[tuple[int, int]] = []
    score_archive(
        submission(predictions(truth)),
        truth,
        private_mask=np.zeros(N_SAMPLES, dtype=bool),
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(done, N_SAMPLES) for done in range(1, N_SAMPLES + 1)]


def test_members_are_decoded_one_at_a_time() -> None:
    # The last member is bad: every earlier one has already been scored when it is decoded, so nothing is stacked.
    truth = ground_truth()
    preds = predictions(truth)
    preds["sample_0005"] = np.zeros((3, 15, 16), dtype=np.float32)
    calls: list[int] = []
    with pytest.raises(ArchiveRejected, match=r"sample_0005.pt: shape \(3, 15, 16\), expected \(3, 16, 16\)"):
        score_archive(
            submission(preds),
            truth,
            private_mask=np.zeros(N_SAMPLES, dtype=bool),
            progress=lambda done, _: calls.append(done),
        )
    assert calls == [1, 2, 3, 4, 5]


def test_an_archive_refusal_comes_before_any_decoding() -> None:
    truth = ground_truth()
    preds = predictions(truth)
    data = submission(preds, method=zipfile.ZIP_DEFLATED)
    calls: list[int] = []
    with pytest.raises(ArchiveRejected, match="the ZIP has 6 entries; the limit is 5"):
        score_archive(
            data,
            truth,
            limits=ArchiveLimits(max_entries=5),
            private_mask=np.zeros(N_SAMPLES, dtype=bool),
            progress=lambda done, _: calls.append(done),
        )
    assert calls == []


def test_a_non_finite_prediction_is_refused_with_its_member_name() -> None:
    truth = ground_truth()
    preds = predictions(truth)
    preds["sample_0002"][0, 0, 0] = np.nan
    with pytest.raises(ArchiveRejected, match="sample_0002.npy: 1 value is NaN or infinite"):
        score_archive(submission(preds, [".npy"] * N_SAMPLES), truth, private_mask=np.zeros(N_SAMPLES, dtype=bool))


def test_the_private_mask_must_cover_every_sample() -> None:
    truth = ground_truth()
    with pytest.raises(ValueError, match="private_mask has 5 entries for 6 samples"):
        score_archive(submission(predictions(truth)), truth, private_mask=np.zeros(5, dtype=bool))


def test_the_default_cap_is_the_documented_one() -> None:
    truth = ground_truth(1)
    result = score_archive(submission(truth), truth, private_mask=np.array([True]))
    assert result.private_mean == DEFAULT_CAP_DB == 100.0


@pytest.mark.parametrize("suffix", [".pt", ".npy", ".safetensors"])
def test_a_constant_baseline_at_default_compression_is_accepted_and_scored(suffix: str) -> None:
    # The case: a constant prediction deflates to ratios a ratio rule refused as a ZIP bomb (324:1 for .pt).
    shape = (3, 256, 256)
    truth = {f"sample_{index:04d}": np.random.default_rng(index).random(shape, dtype=np.float32) for index in range(3)}
    baseline = {name: np.full(shape, 0.5, np.float32) for name in truth}
    data = submission(baseline, [suffix] * len(truth), zipfile.ZIP_DEFLATED)
    ratios = [info.file_size / info.compress_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist()]
    assert min(ratios) > 300

    result = score_archive(data, truth, private_mask=np.array([False, True, False]))

    assert result.per_sample == pytest.approx({name: reference(baseline[name], truth[name]) for name in truth})


def test_a_float64_pt_saved_under_a_long_file_name_fits_the_header_allowance(tmp_path: Path) -> None:
    # torch.save repeats the file's name in each of its records: the allowance covers a long one.
    truth = ground_truth(2)
    members = {}
    for name, array in truth.items():
        path = tmp_path / f"{name}-{'x' * 200}.pt"
        torch.save(torch.from_numpy(array.astype(np.float64)), path)
        members[f"{name}.pt"] = path.read_bytes()
    assert min(len(member) for member in members.values()) > math.prod(SHAPE) * 8 + 4096

    result = score_archive(zip_members(members), truth, private_mask=np.array([False, True]))

    assert set(result.per_sample.values()) == {DEFAULT_CAP_DB}


def test_a_member_larger_than_one_sample_is_refused_before_anything_is_decoded() -> None:
    # torch.save of a slice saves its whole storage: here the batch of 50 it was cut from.
    truth = ground_truth()
    batch = torch.from_numpy(np.stack(list(predictions(truth).values()) * 9))
    members = {f"{name}.pt": encode(array, ".pt") for name, array in truth.items()}
    sliced = io.BytesIO()
    torch.save(batch[3], sliced)
    members["sample_0003.pt"] = sliced.getvalue()
    calls: list[int] = []

    with pytest.raises(ArchiveRejected) as refused:
        score_archive(zip_members(members, zipfile.ZIP_DEFLATED), truth, private_mask=np.zeros(N_SAMPLES, dtype=bool),
                      progress=lambda done, _: calls.append(done))

    assert str(refused.value) == (
        f"sample_0003.pt: {readable_size(len(sliced.getvalue()))} uncompressed; the limit is 70.0 KiB per file (one "
        "float tensor of shape (3, 16, 16) takes 6.0 KiB as float64, plus 64.0 KiB for the file's header; a tensor "
        "sliced from a larger one is saved with that whole storage: save tensor.clone())"
    )
    assert calls == []


def zip_members(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()
