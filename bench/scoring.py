"""`python -m bench.scoring`: the CPU scorer's cost on one 300-sample submission, side by side in one run with
the seed's extract-to-disk method and with the floor (one copy of the archive plus its CRC), as ratios."""

from __future__ import annotations

import os

# One core for everyone, as in the design's measured costs: thread pools would blur the ratios. Set before numpy
# and torch start their pools.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import zipfile  # noqa: E402
import zlib  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cpu_scorer.psnr import psnr, split_assignment  # noqa: E402
from cpu_scorer.scoring import score_archive  # noqa: E402
from cpu_scorer.tensors import DECODERS, decode_sample  # noqa: E402
from podium_runtime.scoring.archive import ArchiveLimits, inspect_archive, read_member  # noqa: E402

SHAPE = (3, 256, 256)
NOISE = 0.01
PRIVATE_FRACTION = 0.5


def ground_truth(n_samples: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"sample_{index:04d}": rng.random(SHAPE, dtype=np.float32) for index in range(n_samples)}


def build_submissions(truth: dict[str, np.ndarray], seed: int) -> dict[str, bytes]:
    """The same predictions (truth + small noise) as a STORED and as a DEFLATED ZIP of .pt files, in memory."""
    rng = np.random.default_rng(seed + 1)
    buffers = {"stored": io.BytesIO(), "deflated": io.BytesIO()}
    methods = {"stored": zipfile.ZIP_STORED, "deflated": zipfile.ZIP_DEFLATED}
    archives = {kind: zipfile.ZipFile(buffers[kind], "w", methods[kind]) for kind in buffers}
    for name, array in truth.items():
        prediction = (array + rng.normal(0.0, NOISE, SHAPE)).astype(np.float32)
        encoded = io.BytesIO()
        torch.save(torch.from_numpy(prediction), encoded)
        for archive in archives.values():
            archive.writestr(f"{name}.pt", encoded.getvalue())
    for archive in archives.values():
        archive.close()
    return {kind: buffer.getvalue() for kind, buffer in buffers.items()}


def ours(archive: bytes, truth: dict[str, np.ndarray], mask: np.ndarray) -> float:
    result = score_archive(archive, truth, private_mask=mask)
    return math.fsum(result.per_sample.values()) / result.n_samples


def seeds_method(archive: bytes, truth: dict[str, torch.Tensor]) -> float:
    """The seed's way: write the ZIP to disk, extract everything, torch.load each file, PSNR with new tensors."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "submission.zip"
        path.write_bytes(archive)
        with zipfile.ZipFile(path) as opened:
            opened.extractall(Path(folder) / "extracted")
        values = []
        for name, target in truth.items():
            prediction = torch.load(Path(folder) / "extracted" / f"{name}.pt", weights_only=True, map_location="cpu")
            mse = torch.mean((prediction - target) ** 2)
            values.append(min((10 * torch.log10(1.0 / mse)).item(), 100.0))
        return sum(values) / len(values)


def floor(archive: bytes) -> int:
    """The least any scorer must do with a stored archive: touch every byte once (a copy) and check its CRC."""
    copy = bytearray(archive)
    return zlib.crc32(copy)


def inflate_floor(archive: bytes) -> int:
    """For a deflated archive, the least is to inflate every member once and check its CRC (context, not target)."""
    checksum = 0
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        for info in opened.infolist():
            start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
            data = zlib.decompress(memoryview(archive)[start : start + info.compress_size], -zlib.MAX_WBITS)
            checksum ^= zlib.crc32(data)
    return checksum


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """Best wall time in ms over `repeats` runs (the least disturbed by the rest of the machine)."""
    times = []
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1e3)
    return min(times)


# --- peak memory, measured in a fresh process -----------------------------------------------------------------


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def rss_child(archive_path: Path, n_samples: int, seed: int) -> None:
    """Run in a fresh process: score the archive once and print the peak RSS growth in bytes as JSON.

    Linux's peak-RSS mark (VmHWM) is reset to the current RSS through /proc/self/clear_refs just before scoring,
    so the peak counts the scorer alone, not the building of the ground truth or the reading of the archive.
    Where that reset is not allowed, ru_maxrss is the fallback (it can hide growth below an earlier peak).
    """
    truth = ground_truth(n_samples, seed)
    archive = archive_path.read_bytes()
    mask = split_assignment(n_samples, PRIVATE_FRACTION, seed)
    gc.collect()
    baseline = _status_kib("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")
        method = "VmHWM after clear_refs"
    except OSError:
        method = "ru_maxrss (no peak reset)"
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ours(archive, truth, mask)
    peak = _status_kib("VmHWM") if method.startswith("VmHWM") else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth": (peak - baseline) * 1024, "method": method}))


def peak_rss_growth(archive: bytes, n_samples: int, seed: int) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "submission.zip"
        path.write_bytes(archive)
        command = [
            sys.executable,
            "-m",
            "bench.scoring",
            "--rss-child",
            str(path),
            "--samples",
            str(n_samples),
            "--seed",
            str(seed),
        ]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    report = json.loads(output.strip().splitlines()[-1])
    return report["growth"], report["method"]


# --- the report ------------------------------------------------------------------------------------------------


def stages_of_ours(archive: bytes, truth: dict[str, np.ndarray], repeats: int) -> dict[str, float]:
    """Where our scorer's time goes, phase by phase over all members (ms, best of `repeats`)."""
    samples, limits = list(truth), ArchiveLimits()
    members = inspect_archive(archive, samples, tuple(DECODERS), limits)
    payloads = [read_member(archive, member) for member in members]
    arrays = [decode_sample(member.name, payload, SHAPE) for member, payload in zip(members, payloads, strict=True)]
    scratch = np.empty(int(np.prod(SHAPE)), dtype=np.float32)
    phases: dict[str, Callable[[], object]] = {
        "directory checks": lambda: inspect_archive(archive, samples, tuple(DECODERS), limits),
        "read + CRC": lambda: [read_member(archive, member) for member in members],
        "decode (torch.load + checks)": lambda: [
            decode_sample(member.name, payload, SHAPE) for member, payload in zip(members, payloads, strict=True)
        ],
        "  of which torch.load alone": lambda: [
            torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu") for payload in payloads
        ],
        "PSNR": lambda: [psnr(array, truth[sample], scratch) for array, sample in zip(arrays, samples, strict=True)],
    }
    return {phase: best_of(repeats, run) for phase, run in phases.items()}


@dataclass(frozen=True)
class Row:
    kind: str
    archive_bytes: int
    copy_ms: float
    crc_ms: float
    floor_ms: float
    ours_ms: float
    seed_ms: float
    rss_growth: int
    rss_method: str
    mean_psnr: float


def measure(kind: str, archive: bytes, truth: dict[str, np.ndarray], args: argparse.Namespace) -> Row:
    truth_tensors = {name: torch.from_numpy(array) for name, array in truth.items()}
    mask = split_assignment(args.samples, PRIVATE_FRACTION, args.seed)
    ours_score, seed_score = ours(archive, truth, mask), seeds_method(archive, truth_tensors)
    if abs(ours_score - seed_score) > 1e-3:
        raise SystemExit(f"{kind}: the methods disagree: ours {ours_score:.5f} dB, seed {seed_score:.5f} dB")
    growth, method = peak_rss_growth(archive, args.samples, args.seed)
    return Row(
        kind=kind,
        archive_bytes=len(archive),
        copy_ms=best_of(args.repeats, lambda: bytearray(archive)),
        crc_ms=best_of(args.repeats, lambda: zlib.crc32(archive)),
        floor_ms=best_of(args.repeats, lambda: floor(archive)),
        ours_ms=best_of(args.repeats, lambda: ours(archive, truth, mask)),
        seed_ms=best_of(args.repeats, lambda: seeds_method(archive, truth_tensors)),
        rss_growth=growth,
        rss_method=method,
        mean_psnr=ours_score,
    )


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'archive':<9} {'MiB':>6} {'floor ms':>9} {'ours ms':>8} {'seed ms':>8} {'ours/floor':>11} "
        f"{'seed/ours':>10} {'peak RSS growth':>16} {'growth/archive':>15}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.kind:<9} {row.archive_bytes / 2**20:>6.1f} {row.floor_ms:>9.1f} {row.ours_ms:>8.1f} "
            f"{row.seed_ms:>8.1f} {row.ours_ms / row.floor_ms:>10.2f}× {row.seed_ms / row.ours_ms:>9.2f}× "
            f"{row.rss_growth / 2**20:>12.1f} MiB {row.rss_growth / row.archive_bytes:>14.3f}×"
        )
    print("targets: ours/floor ≤ 1.5× (stored); seed/ours ≥ 5×; peak RSS growth ≤ 2× the archive")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--rss-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.rss_child:
        rss_child(args.rss_child, args.samples, args.seed)
        return

    truth = ground_truth(args.samples, args.seed)
    submissions = build_submissions(truth, args.seed)
    print(
        f"Scoring {args.samples} samples of {'×'.join(map(str, SHAPE))} float32 (.pt members), best of "
        f"{args.repeats} runs, one thread; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}\n"
    )
    rows = [measure(kind, archive, truth, args) for kind, archive in submissions.items()]
    print_table(rows)
    print()
    for row in rows:
        print(
            f"{row.kind}: floor = copy {row.copy_ms:.1f} ms + CRC {row.crc_ms:.1f} ms (measured apart); ours/CRC "
            f"alone {row.ours_ms / row.crc_ms:.2f}×; mean PSNR {row.mean_psnr:.4f} dB (ours and the seed agree)"
        )
    print(f"peak RSS: {rows[0].rss_method}, in a fresh process scoring once (the archive and truth already loaded)")
    deflated = submissions["deflated"]
    inflate_ms = best_of(args.repeats, lambda: inflate_floor(deflated))
    print(
        f"deflated: inflating + CRC of every member alone takes {inflate_ms:.1f} ms; ours is "
        f"{rows[1].ours_ms / inflate_ms:.2f}× that"
    )
    print("\nwhere ours spends its time on the stored archive (ms):")
    for phase, elapsed in stages_of_ours(submissions["stored"], truth, args.repeats).items():
        print(f"  {phase:<30} {elapsed:>7.1f}")


if __name__ == "__main__":
    main()
