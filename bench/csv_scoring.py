"""`python -m bench.csv_scoring`: scoring a 1,000,000-row binary-classification CSV (ROC AUC and log loss, public
and private), ours against the script a host writes today, side by side in one run, as ratios.

- ours: the `csv` format's reader. The solution is read once, as a scorer keeps it between submissions, so the
  time counts the submission's path: read the file's bytes, `read_submission` (parse, check every cell and id,
  align on the id), then sklearn's `roc_auc_score` and `log_loss` on the aligned arrays of each split.
- the reference: `pandas.read_csv` of both files, a merge on the id, the same sklearn calls on each split.

Each run is a fresh process (`--child`), alternating ours and the reference so a busy machine slows both alike;
the time is the median over the runs. Peak memory is each child's own peak resident set (`ru_maxrss` of
RUSAGE_SELF, read by the child as it ends: tracemalloc would miss polars' and pandas' native allocations): the
whole process, imports and (for ours) the kept solution included, which is what a host's machine has to hold.
One thread for everyone (polars', and the BLAS pools), as in `bench.scoring`: the reference is single-threaded.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "POLARS_MAX_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

SOLUTION, SUBMISSION = "solution.csv", "submission.csv"
PRIVATE_FRACTION = 0.5


def write_files(folder: Path, rows: int, seed: int) -> None:
    """A solution (id, target, Usage) and a submission (the same ids shuffled, a probability each) on disk."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("id", np.char.zfill(rng.permutation(rows).astype(str), 7))
    target = rng.integers(0, 2, rows)
    usage = np.where(rng.random(rows) < PRIVATE_FRACTION, "Private", "Public")
    probability = np.clip(0.35 * target + 0.65 * rng.random(rows), 1e-6, 1 - 1e-6)
    order = rng.permutation(rows)
    with open(folder / SOLUTION, "w") as solution:
        solution.write("id,target,Usage\n")
        solution.writelines(f"{i},{t},{u}\n" for i, t, u in zip(ids, target, usage, strict=True))
    with open(folder / SUBMISSION, "w") as submission:
        submission.write("id,target\n")
        submission.writelines(f"{ids[k]},{probability[k]:.6f}\n" for k in order)


def run_ours(folder: Path) -> tuple[float, dict[str, float]]:
    from sklearn.metrics import log_loss, roc_auc_score

    from podium_runtime.scoring.formats.csv import CsvSettings, read_solution, read_submission

    settings = CsvSettings()
    solution = read_solution((folder / SOLUTION).read_bytes(), settings)
    started = time.perf_counter()
    predictions = read_submission((folder / SUBMISSION).read_bytes(), solution, settings, probabilities=True)
    scores: dict[str, float] = {}
    for split, rows in (("public", solution.public), ("private", solution.private_kept)):
        truth, predicted = solution.targets[rows, 0], predictions[rows, 0]
        scores[f"{split} AUC"] = float(roc_auc_score(truth, predicted))
        scores[f"{split} log loss"] = float(log_loss(truth, predicted))
    return time.perf_counter() - started, scores


def run_reference(folder: Path) -> tuple[float, dict[str, float]]:
    import pandas as pd
    from sklearn.metrics import log_loss, roc_auc_score

    started = time.perf_counter()
    solution = pd.read_csv(folder / SOLUTION)
    submission = pd.read_csv(folder / SUBMISSION)
    merged = solution.merge(submission, on="id", suffixes=("", "_predicted"))
    scores: dict[str, float] = {}
    for split in ("Public", "Private"):
        part = merged[merged["Usage"] == split]
        scores[f"{split.lower()} AUC"] = float(roc_auc_score(part["target"], part["target_predicted"]))
        scores[f"{split.lower()} log loss"] = float(log_loss(part["target"], part["target_predicted"]))
    return time.perf_counter() - started, scores


def child(method: str, folder: Path) -> None:
    seconds, scores = (run_ours if method == "ours" else run_reference)(folder)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"seconds": seconds, "peak_rss": peak, "scores": scores}))


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss: int
    scores: dict[str, float]


def measure(method: str, folder: Path) -> Run:
    command = [sys.executable, "-m", "bench.csv_scoring", "--child", method, "--folder", str(folder)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return Run(**json.loads(output.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--child", choices=("ours", "reference"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.folder)
        return

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        write_files(folder, args.rows, args.seed)
        sizes = {file: (folder / file).stat().st_size for file in (SOLUTION, SUBMISSION)}
        print(
            f"CSV scoring: {args.rows:,} rows, binary ROC AUC + log loss on public and private; solution "
            f"{sizes[SOLUTION] / 2**20:.1f} MiB, submission {sizes[SUBMISSION] / 2**20:.1f} MiB; {args.runs} runs "
            f"each, one fresh process per run, one thread; {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs\n"
        )
        runs: dict[str, list[Run]] = {"ours": [], "reference": []}
        for _ in range(args.runs):
            for method in runs:
                runs[method].append(measure(method, folder))

    ours, reference = runs["ours"][0].scores, runs["reference"][0].scores
    for key, value in ours.items():
        if abs(value - reference[key]) > 1e-9:
            raise SystemExit(f"the methods disagree on {key}: ours {value}, reference {reference[key]}")
    seconds = {method: statistics.median(run.seconds for run in results) for method, results in runs.items()}
    peaks = {method: max(run.peak_rss for run in results) for method, results in runs.items()}
    header = f"{'method':<10} {'median ms':>10} {'peak RSS':>12}"
    print(header)
    print("-" * len(header))
    for method in runs:
        print(f"{method:<10} {seconds[method] * 1e3:>10.0f} {peaks[method] / 2**20:>8.0f} MiB")
    print(
        f"\nreference/ours time: {seconds['reference'] / seconds['ours']:.2f}× (target ≥ 2×); ours/reference peak "
        f"RSS: {peaks['ours'] / peaks['reference']:.2f}× (target ≤ 1×)"
    )
    print("scores (ours and the reference agree): " + ", ".join(f"{key} {value:.6f}" for key, value in ours.items()))


if __name__ == "__main__":
    main()
