"""The demo competition's data: generated ground truth for each CPU task (tensors, or a binary solution CSV for a
csv task), and scikit-learn's bundled digits as the hidden test set of model tasks (uploaded to object storage when
missing); example submissions made from them — used by `make run`, `podium demo` and the tests."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import numpy as np
from minio import Minio

from proto.competition import Competition, Task

GROUND_TRUTH_BUCKET = "ground-truth"
# The generated solution of a csv task: this many rows (a demo's size: a board at once, a file of a few KB), of which
# this share is the positive class (customers who churned).
SOLUTION_ROWS = 2000
POSITIVE_SHARE = 0.27


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


@dataclass(frozen=True)
class BinarySolution:
    """A binary csv task's generated truth: ids, 0/1 targets and which rows are private, in the file's order."""

    id_column: str
    target_column: str
    ids: list[str]
    target: np.ndarray
    private: np.ndarray

    @property
    def public(self) -> np.ndarray:
        return ~self.private


def can_generate_solution(task: Task) -> bool:
    """A csv task whose solution the demo can make: one target (0/1) and no class columns."""
    return task.effective_format == "csv" and not task.csv.prediction_columns and len(task.csv.target_columns) <= 1


def make_solution(task: Task, rows: int = SOLUTION_ROWS) -> BinarySolution:
    """Deterministic per task, like `make_ground_truth`: the split's seed draws the targets, and the rows' Usage
    follows the split (`Split.private_samples`, round(rows · private_fraction) of them private)."""
    if not can_generate_solution(task):
        raise ValueError(f"task {task.id}: the demo generates solutions of binary csv tasks only (one target column, "
                         "no class columns)")
    rng = np.random.default_rng(task.split.seed)
    return BinarySolution(
        id_column=task.csv.id_column or "id",
        target_column=task.csv.target_columns[0] if task.csv.target_columns else "target",
        ids=[f"C{index:05d}" for index in range(rows)],
        target=(rng.random(rows) < POSITIVE_SHARE).astype(np.int64),
        private=np.array(task.split.private_samples(rows), dtype=bool),
    )


def solution_csv(solution: BinarySolution) -> bytes:
    """The solution file, Kaggle's way: the id, the target and `Usage` (Public/Private) on every row."""
    usage = np.where(solution.private, "Private", "Public")
    lines = [f"{solution.id_column},{solution.target_column},Usage",
             *(f"{i},{t},{u}" for i, t, u in zip(solution.ids, solution.target.tolist(), usage, strict=True))]
    return ("\n".join(lines) + "\n").encode()


def noisy_probabilities(solution: BinarySolution, noise: float, seed: int = 0) -> np.ndarray:
    """A plausible prediction of each row's probability of class 1: the logistic of ±1 (by the truth) plus Gaussian
    noise of standard deviation 0.7 + 10·`noise` (`noisy_submission`'s noise levels, 0.02 … 0.4, give ROC AUCs from
    about 0.94 down to 0.62: less noise, a better AUC and a lower log loss)."""
    rng = np.random.default_rng(seed)
    logit = (2.0 * solution.target - 1.0) + rng.normal(0.0, 0.7 + 10.0 * noise, len(solution.ids))
    return 1.0 / (1.0 + np.exp(-logit))


def predictions_csv(solution: BinarySolution, probabilities: np.ndarray) -> bytes:
    """A submission to the task: the id and one probability column named like the target."""
    lines = [f"{solution.id_column},{solution.target_column}",
             *(f"{i},{p:.6g}" for i, p in zip(solution.ids, probabilities.tolist(), strict=True))]
    return ("\n".join(lines) + "\n").encode()


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


def generated_ground_truth(task: Task) -> bytes | None:
    """The demo's ground truth of `task`, as its object's bytes (None: a csv task the demo cannot generate)."""
    if task.effective_format == "csv":
        return solution_csv(make_solution(task)) if can_generate_solution(task) else None
    return npy_zip(make_ground_truth(task)) if task.kind == "cpu" else test_set_npz()


def seed_ground_truth(s3: Minio, competition: Competition) -> list[str]:
    """Upload the generated ground truth of every task whose object is missing (and the demo can make); return what
    was added."""
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
        data = generated_ground_truth(task)
        if data is None:
            continue
        s3.put_object(GROUND_TRUTH_BUCKET, task.ground_truth, io.BytesIO(data), len(data))
        added.append(task.ground_truth)
    return added
