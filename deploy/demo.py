"""The demo competition's data: generated ground truth for each CPU task, and scikit-learn's bundled digits
as the hidden test set of model tasks (uploaded to object storage when missing); example submissions made
from them — used by `make run` and by the tests."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from minio import Minio

from proto.competition import Competition, Task

GROUND_TRUTH_BUCKET = "ground-truth"


def make_ground_truth(task: Task) -> dict[str, np.ndarray]:
    """Deterministic per task: the same competition file always yields the same ground truth."""
    rng = np.random.default_rng(task.split.seed)
    return {name: rng.random(task.shape, dtype=np.float32) for name in task.sample_names()}


def npy_zip(arrays: dict[str, np.ndarray], *, compress: bool = False) -> bytes:
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.save(member, array, allow_pickle=False)
            archive.writestr(f"{name}.npy", member.getvalue())
    return buffer.getvalue()


def noisy_submission(truth: dict[str, np.ndarray], noise: float, seed: int = 0) -> dict[str, np.ndarray]:
    """A plausible prediction: the truth plus Gaussian noise of standard deviation `noise`."""
    rng = np.random.default_rng(seed)
    return {name: (array + rng.normal(0, noise, array.shape)).astype(np.float32) for name, array in truth.items()}


def digits_split() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's bundled digits (8×8 images, 10 classes), split once, seeded: (train, hidden test)."""
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(labels))
    # As arrays: with pandas installed, scikit-learn's annotations also allow data frames here.
    x, y = (np.asarray(images) / 16.0).astype(np.float32), np.asarray(labels).astype(np.int64)
    train, test = order[: len(order) // 2], order[len(order) // 2:]
    return (x[train], y[train]), (x[test], y[test])


def test_set_npz() -> bytes:
    _, (x, y) = digits_split()
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    return buffer.getvalue()


def seed_ground_truth(s3: Minio, competition: Competition) -> list[str]:
    """Upload the generated ground truth of every task whose object is missing; return what was added."""
    if not s3.bucket_exists(GROUND_TRUTH_BUCKET):
        s3.make_bucket(GROUND_TRUTH_BUCKET)
    added = []
    for task in competition.tasks:
        try:
            s3.stat_object(GROUND_TRUTH_BUCKET, task.ground_truth)
            continue
        except Exception as exc:  # minio's S3Error NoSuchKey: not there yet
            if "NoSuchKey" not in repr(exc) and "NoSuchBucket" not in repr(exc):
                raise
        data = npy_zip(make_ground_truth(task)) if task.kind == "cpu" else test_set_npz()
        s3.put_object(GROUND_TRUTH_BUCKET, task.ground_truth, io.BytesIO(data), len(data))
        added.append(task.ground_truth)
    return added
