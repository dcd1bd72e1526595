"""The competition file: tasks, their metric and its parameters, expected members, ground truth, split,
quotas and phases. Read by the submission service (quotas, phases, uploads) and by the scorers (how to
score), so it is part of the contracts. TOML, decoded and validated by msgspec.

    [competition]
    name = "Podium demo"

    [[tasks]]
    id = "reconstruction"          # a subject token: letters, digits, '_' and '-'
    title = "Image reconstruction"
    kind = "cpu"                   # cpu: a ZIP of result tensors; gpu: an ONNX model
    metric = "psnr"
    scorer_version = "psnr-1"      # bump to rescore under a new version
    sort = "desc"                  # higher is better
    daily_quota = 5                # accepted submissions per team per UTC day
    max_upload_bytes = 300_000_000
    aliases = ["task1"]            # MLS-GOAT's route names for this task
    samples = 300                  # members sample_0000 … sample_0299
    sample_pattern = "sample_{index:04d}"
    shape = [3, 256, 256]
    ground_truth = "reconstruction/ground_truth.zip"   # key in the ground-truth bucket
    psnr = { data_range = 1.0, cap_db = 100.0 }
    split = { private_fraction = 0.8, seed = 20261122 }
    [[tasks.phases]]
    id = "main"
    opens_at = 2026-01-01T00:00:00Z
    closes_at = 2027-01-01T00:00:00Z
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec

from proto.subjects import token

TaskId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class PsnrParameters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    data_range: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    # An exact match has infinite PSNR; capping keeps every number finite and averageable.
    cap_db: Annotated[float, msgspec.Meta(gt=0)] = 100.0


class Split(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    private_fraction: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.8
    seed: int = 0

    def private_samples(self, n_samples: int) -> list[bool]:
        """Which samples are private: exactly round(n · private_fraction) of them, chosen by a keyed hash of
        each index (BLAKE2b of `seed:index`) so the split never moves between versions of any library — a
        rescore must compare the same samples. Every scorer of a task uses this one definition."""
        n_private = round(n_samples * self.private_fraction)
        order = sorted(range(n_samples), key=lambda index: _split_key(self.seed, index))
        private = [False] * n_samples
        for index in order[:n_private]:
            private[index] = True
        return private


def _split_key(seed: int, index: int) -> bytes:
    return hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=16).digest()


class ModelSignature(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a submitted model (gpu task) must look like: one float input, one output of class scores."""

    input_name: str = "input"
    output_name: str = "output"
    classes: Annotated[int, msgspec.Meta(ge=2)] = 10
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 64
    # The time limit of one evaluation: loading the model and running the whole test set, in seconds.
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 120.0
    top_k: Annotated[int, msgspec.Meta(ge=1)] = 3
    # The memory limit of one evaluation, in MiB: what loading the model and running it may take beyond the
    # scorer's own (ONNX Runtime engine; Triton runs models under its own server's limits).
    memory_limit_mb: Annotated[int, msgspec.Meta(ge=64)] = 512


class Phase(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: TaskId
    opens_at: datetime
    closes_at: datetime


ALWAYS_OPEN = Phase(id="open", opens_at=datetime(1970, 1, 1, tzinfo=UTC), closes_at=datetime(9999, 1, 1, tzinfo=UTC))


class Task(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: TaskId
    title: str
    kind: Literal["cpu", "gpu"]
    metric: Literal["psnr", "accuracy"]
    scorer_version: TaskId
    sort: Literal["asc", "desc"] = "desc"
    daily_quota: Annotated[int, msgspec.Meta(ge=1)] = 5
    max_upload_bytes: Annotated[int, msgspec.Meta(ge=1)] = 300_000_000
    aliases: tuple[str, ...] = ()
    samples: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 300
    sample_pattern: str = "sample_{index:04d}"
    shape: tuple[int, ...] = ()
    ground_truth: str = ""
    psnr: PsnrParameters = PsnrParameters()
    split: Split = Split()
    # gpu tasks: the model's signature; `shape` is one sample's feature shape, `ground_truth` an .npz (x, y).
    model: ModelSignature = ModelSignature()
    # How many submissions a team may mark as final for the private board.
    final_submissions: Annotated[int, msgspec.Meta(ge=1, le=100)] = 2
    phases: tuple[Phase, ...] = ()

    def sample_names(self) -> list[str]:
        return [self.sample_pattern.format(index=index) for index in range(self.samples)]

    def phase_at(self, moment: datetime) -> Phase | None:
        """The phase open at `moment` (None: closed); a task without phases is always open."""
        if not self.phases:
            return ALWAYS_OPEN
        return next((p for p in self.phases if p.opens_at <= moment < p.closes_at), None)

    def closes_at(self) -> datetime | None:
        """When the task's last phase closes (no submission after it); None for a task without phases."""
        return max((p.closes_at for p in self.phases), default=None)


class CompetitionInfo(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str = "Podium"


class Competition(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    competition: CompetitionInfo = CompetitionInfo()
    tasks: tuple[Task, ...] = ()

    def task(self, task_id: str) -> Task | None:
        """A task by id, or by one of its MLS-GOAT aliases (e.g. "task1")."""
        return next((t for t in self.tasks if t.id == task_id or task_id in t.aliases), None)


class CompetitionError(ValueError):
    pass


def parse_competition(text: bytes | str) -> Competition:
    """Decode and check a competition file; every problem says where it is."""
    try:
        competition = msgspec.toml.decode(text, type=Competition)
    except msgspec.DecodeError as exc:
        raise CompetitionError(f"competition file: {exc}") from None
    ids = [task.id for task in competition.tasks]
    if len(set(ids)) != len(ids):
        raise CompetitionError(f"competition file: task ids must be unique, got {ids}")
    for task in competition.tasks:
        token(task.id)
        for phase in task.phases:
            if phase.opens_at.tzinfo is None or phase.opens_at >= phase.closes_at:
                raise CompetitionError(f"task {task.id}, phase {phase.id}: needs opens_at < closes_at, with a zone")
        if task.kind == "gpu" and (not task.shape or not task.ground_truth):
            raise CompetitionError(f"task {task.id}: a gpu task needs shape (of one sample) and ground_truth (.npz)")
        if task.kind == "cpu":
            names = task.sample_names()
            if len(set(names)) != len(names):
                raise CompetitionError(f"task {task.id}: sample_pattern must give distinct names")
            if not task.shape or not task.ground_truth:
                raise CompetitionError(f"task {task.id}: a cpu task needs shape and ground_truth")
    return competition
