"""cpu_scorer's part of host scoring programs (`metric = "program"`): the program ZIPs and ground truths the warm pool
(`podium_runtime.programs`) reads, fetched by digest and kept on local disk, staged exactly as the check at upload
stages them (`podium_runtime.program_files`: the same unpacking, file names, limits and columns), and the scoring of
one submission by its task's program. The format's reader has checked the submission before
(`handlers.CpuScorer.score_program`).

A participant reads only the program's ParticipantVisibleError text, or "the scoring program failed"; the host reads
why, the traceback and the program's stdout and stderr in the submission's log, as host-only lines. The program's
own details may hold anything (private values included): they are kept under a key a team's view leaves out."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from minio import Minio
from minio.error import S3Error

from podium_runtime.connections import read_bytes
from podium_runtime.ground_truth import GroundTruthMissing, read_recorded
from podium_runtime.jobs import JobReporter
from podium_runtime.program_files import (
    MAX_PROGRAM_BYTES,
    ProgramRejected,
    program_for,
    stage_truth,
    staged_truth,
    unpack_program,
)
from podium_runtime.programs.contracts import ProgramResult
from podium_runtime.programs.pool import Program, ProgramPool
from podium_runtime.scoring.kit import Scored, Timings
from proto.competition import Task
from proto.events import SubmissionReceived
from proto.storage import PROGRAMS_BUCKET

log = logging.getLogger(__name__)
# The last lines of the program's stdout and of its stderr that go to the host's log (the pool keeps a tail of each).
OUTPUT_LINES = 200
# Where a program's own details go in a score's details: the word "private" keeps them out of a team's view.
PROGRAM_DETAILS = "program_details_private"
# Program versions kept warm (a worker each, their files on disk) once no job uses them: a replaced program's are
# retired past this many more recent ones, instead of staying until the scorer stops.
KEPT_VERSIONS = 8


class ProgramFailed(Exception):
    """The host's program did not score the submission: its text (the program's ParticipantVisibleError, or "the
    scoring program failed") is what the team reads. The program failed, not the platform: never retried."""


class ProgramMissing(RuntimeError):
    """The task's program is not in storage as the competition records it (not put yet, or not the recorded bytes):
    the platform's data, so the job is retried."""


@dataclass
class ProgramVersions:
    """Which program versions stay warm: every one a job is using, and the `keep` most recently used. Pure
    bookkeeping; the caller retires what `finished` returns."""

    keep: int
    # Jobs running per version, the most recently started last.
    _jobs: dict[Program, int] = field(default_factory=dict)

    def started(self, program: Program) -> None:
        self._jobs[program] = self._jobs.pop(program, 0) + 1

    def finished(self, program: Program) -> list[Program]:
        """A job of `program` is done: the versions to retire now (no job uses them, `keep` others are more recent)."""
        self._jobs[program] -= 1
        ordered = list(self._jobs)
        recent = set(ordered[max(len(ordered) - self.keep, 0):])
        retired = [version for version, jobs in self._jobs.items() if not jobs and version not in recent]
        for version in retired:
            del self._jobs[version]
        return retired

    @property
    def kept(self) -> list[Program]:
        return list(self._jobs)


def unused_folders(retired: Iterable[Program], kept: Iterable[Program]) -> set[Path]:
    """The program and ground-truth folders of the retired versions that no kept version reads (a new program
    version of a task usually keeps its ground truth)."""
    return set().union(*map(_folders, retired)) - set().union(*map(_folders, kept))


def _folders(program: Program) -> set[Path]:
    # A kept ground truth's folder holds the staged file or INPUT/ref itself (ProgramFiles._kept, stage_truth).
    return {program.program_dir, program.truth.parent}


@dataclass
class ProgramFiles:
    """Each program version and each ground truth a program reads, fetched once, checked against the digest the
    competition records, staged as at upload, and kept on disk under that digest (a new digest is a new folder, so
    a worker never sees a file change under it). A version no job uses is retired past the `KEPT_VERSIONS` most
    recently used: its worker stopped, its files removed."""

    s3: Minio
    folder: Path
    pool: ProgramPool
    versions: ProgramVersions = field(default_factory=lambda: ProgramVersions(KEPT_VERSIONS))
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def acquire(self, task: Task) -> Program:
        """The warm pool's key for the task's program, its files kept until `release`."""
        if not task.has_program:
            raise ProgramMissing(f"task {task.id} has no scoring program yet")
        if not task.has_ground_truth:
            raise GroundTruthMissing(f"task {task.id} has no ground truth yet")
        # One download per digest even when submissions arrive together, and none while a version is retired.
        async with self._lock:
            program_dir = await asyncio.to_thread(self._kept, f"program-{task.program.sha256}", self._stage_program,
                                                  task)
            # Staged per contract (INPUT/ref or a file) and format (the file's extension).
            truth_name = f"truth-{task.ground_truth_sha256}-{task.program.contract}-{task.effective_format}"
            truth_dir = await asyncio.to_thread(self._kept, truth_name, self._stage_truth, task)
            program = program_for(task, program_dir, staged_truth(task, truth_dir))
            self.versions.started(program)
        return program

    async def release(self, program: Program) -> None:
        """A job is done with `program`: the versions no longer kept are retired."""
        async with self._lock:
            retired = self.versions.finished(program)
            if retired:
                await asyncio.to_thread(self._retire, retired)

    def _retire(self, retired: list[Program]) -> None:
        for program in retired:
            self.pool.retire(program)
        for folder in unused_folders(retired, self.versions.kept):
            shutil.rmtree(folder, ignore_errors=True)

    def _kept(self, name: str, stage: Callable[[Task, Path], None], task: Task) -> Path:
        """`folder/name`, made by `stage(task, staging)` the first time: complete, or not there at all."""
        kept = self.folder / name
        if not kept.exists():
            staging = self.folder / f"staging-{uuid.uuid4().hex}"
            try:
                stage(task, staging)
                staging.rename(kept)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return kept

    def _stage_program(self, task: Task, into: Path) -> None:
        spec = task.program
        try:
            data = read_bytes(self.s3, PROGRAMS_BUCKET, spec.key, MAX_PROGRAM_BYTES + 1)
        except S3Error as error:
            if error.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                raise ProgramMissing(f"the program of task {task.id} is missing from storage") from None
            raise
        if hashlib.sha256(data).hexdigest() != spec.sha256:
            raise ProgramMissing(f"the stored program of task {task.id} is not the one the competition records "
                                 "(its digest differs)")
        try:
            unpack_program(data, into)
        except ProgramRejected as refusal:
            raise ProgramMissing(f"the stored program of task {task.id} cannot be run: {refusal}") from None

    def _stage_truth(self, task: Task, into: Path) -> None:
        data = read_recorded(self.s3, task)
        try:
            stage_truth(data, task, into)
        except ProgramRejected as refusal:
            raise GroundTruthMissing(f"task {task.id}: {refusal}") from None


@dataclass(frozen=True)
class ProgramScoring:
    """Runs a task's program on one submission in the warm pool, off the event loop, and reports it."""

    pool: ProgramPool
    files: ProgramFiles
    jobs: JobReporter

    async def score(self, task: Task, event: SubmissionReceived, data: bytes, timings: Timings) -> Scored:
        with timings.step("program_files"):
            program = await self.files.acquire(task)
        try:
            with timings.step("program"):
                result = await asyncio.to_thread(self._run, program, event, data)
        finally:
            await self.files.release(program)
        self._log_output(event, result)
        if not result.ok:
            # The operator's log too: a program that fails every submission is worth seeing without an admin's view.
            log.info("the scoring program failed", extra={"submission_id": event.submission_id, "task_id": task.id,
                                                           "reason": result.host_reason})
            self.jobs.log(event, f"the scoring program failed: {result.host_reason}", "error", host_only=True)
            for line in result.traceback.splitlines():
                self.jobs.log(event, line, "error", host_only=True)
            raise ProgramFailed(result.participant_message)
        primary = task.primary_column.header
        self.jobs.log(event, f"scored by the host's program; public {primary} {result.public[primary]:.6g}")
        details = {"metric": "program", "contract": program.contract.value, PROGRAM_DETAILS: result.details}
        return Scored(result.public, result.private, {}, details, timings)

    def _run(self, program: Program, event: SubmissionReceived, data: bytes) -> ProgramResult:
        """The submission written where the pool reads it (named `submission` with its stored extension), run."""
        job = self.files.folder / f"job-{uuid.uuid4().hex}"
        job.mkdir(mode=0o700, parents=True)
        try:
            submission = job / f"submission{PurePosixPath(event.object_key).suffix}"
            submission.write_bytes(data)
            context = {"task_id": event.task_id, "submission_id": event.submission_id, "phase_id": event.phase_id}
            return self.pool.run(program, submission, context)
        finally:
            shutil.rmtree(job, ignore_errors=True)

    def _log_output(self, event: SubmissionReceived, result: ProgramResult) -> None:
        """The program's stdout and stderr, for the host alone (a program may print anything, private values too)."""
        for stream, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            lines = text.splitlines()
            if len(lines) > OUTPUT_LINES:
                self.jobs.log(event, f"{stream}: … {len(lines) - OUTPUT_LINES} earlier lines not kept", host_only=True)
            for line in lines[-OUTPUT_LINES:]:
                self.jobs.log(event, f"{stream}: {line}", host_only=True)
