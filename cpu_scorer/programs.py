"""cpu_scorer's part of host scoring programs (`metric = "program"`): the program ZIPs and ground truths the warm pool
(`podium_runtime.programs`) reads, kept on local disk by digest, and the scoring of one submission by its task's
program. The format's reader has checked the submission before (`handlers.CpuScorer.score_program`).

A participant reads only the program's ParticipantVisibleError text, or "the scoring program failed"; the host reads
why, the traceback and the program's stdout and stderr in the submission's log, as host-only lines. The program's
own details may hold anything (private values included): they are kept under a key a team's view leaves out."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import shutil
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from minio import Minio
from minio.error import S3Error

from podium_runtime.connections import read_bytes
from podium_runtime.ground_truth import GroundTruthMissing, extension, read_object
from podium_runtime.jobs import JobReporter
from podium_runtime.programs.contracts import Contract, ProgramResult
from podium_runtime.programs.inputs import unpack_zip
from podium_runtime.programs.pool import Program, ProgramPool
from podium_runtime.programs.sandbox import MiB, ProgramLimits
from podium_runtime.scoring.archive import ArchiveLimits, ArchiveRejected, readable_size
from podium_runtime.scoring.kit import Scored, Timings
from proto.competition import ProgramSpec, Task
from proto.events import SubmissionReceived
from proto.storage import PROGRAMS_BUCKET

log = logging.getLogger(__name__)
# What a program ZIP may hold: a host's code and small data files, never more than this uncompressed.
MAX_PROGRAM_BYTES = 256 * MiB
MAX_PROGRAM_FILES = 10_000
# A Codabench program's reference data (a ZIP ground truth, unpacked as INPUT/ref): flat, as large as a ground truth.
REFERENCE_LIMITS = ArchiveLimits(max_entries=10_000, max_entry_bytes=2048 * MiB, max_total_bytes=2048 * MiB)
REFERENCE = "ref"
# The last lines of the program's stdout and of its stderr that go to the host's log (the pool keeps a tail of each).
OUTPUT_LINES = 200
# Where a program's own details go in a score's details: the word "private" keeps them out of a team's view.
PROGRAM_DETAILS = "program_details_private"


class ProgramFailed(Exception):
    """The host's program did not score the submission: its text (the program's ParticipantVisibleError, or "the
    scoring program failed") is what the team reads. The program failed, not the platform: never retried."""


class ProgramMissing(RuntimeError):
    """The task's program is not in storage as the competition records it (not put yet, or not the recorded bytes):
    the platform's data, so the job is retried."""


def program_limits(spec: ProgramSpec) -> ProgramLimits:
    """A task's limits on one run of its program."""
    return ProgramLimits(wall_seconds=spec.wall_s, cpu_seconds=spec.cpu_s, memory_bytes=spec.memory_mb * MiB,
                         file_bytes=spec.file_mb * MiB, processes=spec.processes)


def unpack_program(data: bytes, into: Path) -> None:
    """A program ZIP (score.py at its root, folders allowed: it is the host's own code) written into `into`, readable
    by the sandbox's uid. Raises ProgramMissing when it is not one."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            names = [PurePosixPath(member.filename) for member in members]
            if len(members) > MAX_PROGRAM_FILES or sum(member.file_size for member in members) > MAX_PROGRAM_BYTES:
                raise ProgramMissing(f"the program ZIP holds more than {MAX_PROGRAM_FILES} files or "
                                     f"{readable_size(MAX_PROGRAM_BYTES)}")
            if any(name.is_absolute() or ".." in name.parts or "\\" in str(name) for name in names):
                raise ProgramMissing("the program ZIP has a path outside its own folder")
            if PurePosixPath("score.py") not in names:
                raise ProgramMissing("the program ZIP has no score.py at its root")
            archive.extractall(into)
    except zipfile.BadZipFile as error:
        raise ProgramMissing(f"the stored program is not a ZIP: {error}") from None
    _readable(into)


def _readable(folder: Path) -> None:
    """Folders 0755 and files 0644: the program runs as an unprivileged uid of its own."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


@dataclass
class ProgramFiles:
    """Each program version and each ground truth a program reads, fetched once, checked against the digest the
    competition records, and kept on disk under that digest (a new digest is a new folder, so a worker never sees
    a file change under it)."""

    s3: Minio
    folder: Path
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def program(self, task: Task) -> Program:
        """The warm pool's key for the task's program: its folder, its ground truth, contract, columns, limits."""
        spec = task.program
        if not task.has_program:
            raise ProgramMissing(f"task {task.id} has no scoring program yet")
        if not task.has_ground_truth:
            raise GroundTruthMissing(f"task {task.id} has no ground truth yet")
        contract = Contract(spec.contract)
        async with self._lock:  # one download per digest even when submissions arrive together
            program_dir = await asyncio.to_thread(self._kept, f"program-{spec.sha256}", self._fetch_program, task)
            truth = await asyncio.to_thread(self._kept, f"truth-{task.ground_truth_sha256}-{contract.value}",
                                            self._fetch_truth, task)
        # A Codabench program's unpacked reference data is INPUT/ref itself; a file is passed as it is.
        truth = truth / REFERENCE if (truth / REFERENCE).is_dir() else truth / f"truth{extension(task)}"
        return Program(program_dir, truth, contract, tuple(column.header for column in task.columns),
                       program_limits(spec))

    def _kept(self, name: str, fetch: Callable[[Task, Path], None], task: Task) -> Path:
        """`folder/name`, made by `fetch(task, staging)` the first time: complete, or not there at all."""
        kept = self.folder / name
        if not kept.exists():
            staging = self.folder / f"staging-{uuid.uuid4().hex}"
            staging.mkdir(parents=True)
            try:
                fetch(task, staging)
                _readable(staging)
                staging.rename(kept)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return kept

    def _fetch_program(self, task: Task, into: Path) -> None:
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
        unpack_program(data, into)

    def _fetch_truth(self, task: Task, into: Path) -> None:
        """The ground truth as a file (`truth.csv`, `truth.zip`, `truth`); for a Codabench program a ZIP is its
        reference data, unpacked (INPUT/ref is then that folder)."""
        data = read_object(self.s3, task.ground_truth)
        if data is None:
            raise GroundTruthMissing(f"the ground truth of task {task.id} is missing from storage")
        if hashlib.sha256(data).hexdigest() != task.ground_truth_sha256:
            raise GroundTruthMissing(f"the stored ground truth of task {task.id} is not the one the competition "
                                     "records (its digest differs)")
        if task.program.contract == Contract.CODABENCH.value and zipfile.is_zipfile(io.BytesIO(data)):
            (into / REFERENCE).mkdir()
            try:
                unpack_zip(data, into / REFERENCE, REFERENCE_LIMITS)
            except ArchiveRejected as refusal:
                raise GroundTruthMissing(f"the reference data of task {task.id} cannot be unpacked: {refusal}") \
                    from None
            return
        (into / f"truth{extension(task)}").write_bytes(data)


@dataclass(frozen=True)
class ProgramScoring:
    """Runs a task's program on one submission in the warm pool, off the event loop, and reports it."""

    pool: ProgramPool
    files: ProgramFiles
    jobs: JobReporter

    async def score(self, task: Task, event: SubmissionReceived, data: bytes, timings: Timings) -> Scored:
        with timings.step("program_files"):
            program = await self.files.program(task)
        with timings.step("program"):
            result = await asyncio.to_thread(self._run, program, event, data)
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
