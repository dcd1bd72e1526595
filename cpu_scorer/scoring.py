"""The pure scoring pipeline of a result archive: check the ZIP, then decode and score one member at a time
against the ground truth. Bytes and arrays in, a ScoreResult out; no I/O."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cpu_scorer.psnr import DEFAULT_CAP_DB, Progress, score_samples
from cpu_scorer.tensors import DECODERS, decode_sample, max_member_bytes, member_size_rule
from podium_runtime.scoring.archive import ArchiveLimits, iter_members


@dataclass(frozen=True)
class ScoreResult:
    """A submission's score: mean PSNR over the public and the private samples (None where a split is empty),
    and each sample's PSNR keyed by sample name, in the ground truth's order."""

    public_mean: float | None
    private_mean: float | None
    per_sample: dict[str, float]
    n_samples: int


def score_archive(
    archive: bytes | memoryview,
    ground_truth: Mapping[str, np.ndarray],
    *,
    limits: ArchiveLimits = ArchiveLimits(),  # noqa: B008 - frozen, so one shared default is safe
    data_range: float = 1.0,
    cap_db: float = DEFAULT_CAP_DB,
    private_mask: np.ndarray,
    progress: Progress | None = None,
) -> ScoreResult:
    """Score a submission ZIP against `ground_truth` (sample name → float32 array, e.g. "sample_0000").

    The archive must hold one member per sample, named `<sample>.pt`, `.npy` or `.safetensors`. Its directory is
    checked before anything is inflated, each member held to what one sample of the truth's shape can take
    (`max_member_bytes`; `limits` give the entry count); then members are read, decoded and scored one at a time
    in the ground truth's order, reusing one scratch buffer, so memory stays at one sample beyond the archive.
    `private_mask[i]` says whether the i-th sample of `ground_truth` is private. Raises ArchiveRejected with a
    reason the participant can act on.
    """
    samples = list(ground_truth)
    if len(private_mask) != len(samples):
        raise ValueError(f"private_mask has {len(private_mask)} entries for {len(samples)} samples")

    # Each member holds one sample of a known shape: that, not how well the bytes compress, bounds what may be
    # inflated (a constant prediction deflates a thousandfold and is still a fair submission).
    shape = max((truth.shape for truth in ground_truth.values()), key=math.prod, default=())
    sized = limits.sized_for(len(samples), max_member_bytes(shape), member_size_rule(shape))

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for member, payload in iter_members(archive, samples, tuple(DECODERS), sized):
            truth = ground_truth[member.sample]
            yield decode_sample(member.name, payload, truth.shape), truth

    scores = score_samples(pairs(), private_mask, data_range=data_range, cap_db=cap_db, progress=progress)
    return ScoreResult(
        public_mean=scores.public_mean,
        private_mean=scores.private_mean,
        per_sample=dict(zip(samples, scores.values, strict=True)),
        n_samples=len(samples),
    )


def check_archive(archive: bytes | memoryview, samples: Sequence[str], shape: tuple[int, ...], *,
                  limits: ArchiveLimits = ArchiveLimits()) -> None:  # noqa: B008 - frozen, so one shared default is safe
    """Every check `score_archive` makes of a submission ZIP (its directory, each member decoded against the task's
    sample names and shape), without scoring: what a host's program reads has passed the same reader. Raises
    ArchiveRejected with the reason the participant reads."""
    sized = limits.sized_for(len(samples), max_member_bytes(shape), member_size_rule(shape))
    for member, payload in iter_members(archive, samples, tuple(DECODERS), sized):
        decode_sample(member.name, payload, shape)
