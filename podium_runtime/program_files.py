"""A host's scoring program as it is stored and staged: what a host uploads (one `.py`, or a flat ZIP with `score.py`
at its root) becomes one ZIP in the `programs` bucket, and a program task's run is set up from that ZIP, the task's
ground truth and its limits. submission_service checks an upload with it; the scorer stages the same files the same
way (`cpu_scorer.programs` keeps what it stages by digest), so a program that passed the check is the program that
scores.

Pure apart from the folders it is given: bytes in, files and a `Program` out."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from podium_runtime.ground_truth import extension
from podium_runtime.programs.contracts import Contract
from podium_runtime.programs.inputs import starts_like_zip, unpack_zip
from podium_runtime.programs.pool import Program
from podium_runtime.programs.sandbox import ProgramLimits
from podium_runtime.scoring.archive import ArchiveLimits, ArchiveRejected, readable_size
from proto.competition import Task

MiB = 1 << 20
# What a program upload may weigh: code and the small tables it reads, not data sets (those are the ground truth).
MAX_PROGRAM_BYTES = 64 * MiB
# A program ZIP unpacked: the same checks as every archive (names, duplicates, ratio, overlaps), sized for code.
PROGRAM_ARCHIVE = ArchiveLimits(max_entries=1000, max_entry_bytes=64 * MiB, max_total_bytes=256 * MiB,
                                entry_rule="a program's file may be at most 64 MiB")
# A Codabench reference ZIP unpacked into INPUT/ref: the host's data, bounded like a ground truth.
REFERENCE_ARCHIVE = ArchiveLimits(max_entries=100_000, max_entry_bytes=2048 * MiB, max_total_bytes=4096 * MiB)
ENTRY_POINT = "score.py"
# A Codabench program's reference data, unpacked: the folder it reads as INPUT/ref.
REFERENCE = "ref"
# A stored ZIP made from a single .py is the same bytes for the same file: the same program, the same digest.
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
# Folders and files the sandboxed program (another uid) reads.
_DIR_MODE, _FILE_MODE = 0o755, 0o644


class ProgramRejected(ValueError):
    """An upload that is not a program Podium can run: the reason, in the host's words."""


def package(filename: str, data: bytes, scratch: Path) -> bytes:
    """What is stored for an upload named `filename`: a `.py` becomes a ZIP holding it as score.py; a `.zip` is kept
    as it is once it unpacks (into `scratch`) under the archive checks with score.py at its root."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".py":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise ProgramRejected(f"{filename} is not UTF-8 text (byte {bad.start}): is it a Python file?") from None
        return single_file_zip(data)
    if suffix == ".zip":
        unpack_program(data, scratch)
        return data
    raise ProgramRejected(f"a program is a .py file or a .zip with {ENTRY_POINT} at its root, not {filename!r}")


def single_file_zip(source: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        member = zipfile.ZipInfo(ENTRY_POINT, date_time=_FIXED_TIME)
        member.external_attr = (0o100000 | _FILE_MODE) << 16
        member.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(member, source)
    return buffer.getvalue()


def unpack_program(data: bytes, into: Path) -> Path:
    """The program ZIP's files in `into` (created), which holds score.py; ProgramRejected says why not."""
    if not data.startswith(b"PK"):
        raise ProgramRejected(f"the program is not a ZIP archive: zip a folder that holds {ENTRY_POINT}, or upload "
                              "the .py file itself")
    into.mkdir(mode=_DIR_MODE, parents=True)
    into.chmod(_DIR_MODE)
    try:
        names = unpack_zip(data, into, PROGRAM_ARCHIVE)
    except ArchiveRejected as refusal:
        raise ProgramRejected(f"the program's ZIP was refused: {refusal}") from None
    if ENTRY_POINT not in names:
        listed = ", ".join(sorted(names)[:10]) or "nothing"
        raise ProgramRejected(f"the program's ZIP has no {ENTRY_POINT} at its root (it holds {listed}); files in "
                              "folders are not taken: put score.py and what it reads side by side")
    return into


def stage_truth(data: bytes, task: Task, into: Path) -> Path:
    """The ground truth as the program reads it, under `into` (created): a file `truth<ext>` for a function program;
    for a Codabench program the folder INPUT/ref, holding the ZIP's files when the ground truth is a ZIP."""
    into.mkdir(mode=_DIR_MODE, parents=True)
    into.chmod(_DIR_MODE)
    if task.program.contract == Contract.CODABENCH.value and starts_like_zip(data):
        reference = into / REFERENCE
        reference.mkdir(mode=_DIR_MODE)
        reference.chmod(_DIR_MODE)
        try:
            unpack_zip(data, reference, REFERENCE_ARCHIVE)
        except ArchiveRejected as refusal:
            raise ProgramRejected(f"the ground truth's ZIP cannot be the program's reference data: {refusal}") from None
        return reference
    truth = into / truth_name(task)
    truth.write_bytes(data)
    truth.chmod(_FILE_MODE)
    return truth


def staged_truth(task: Task, into: Path) -> Path:
    """Where `stage_truth` put the task's ground truth under `into` (for a folder staged earlier and kept)."""
    reference = into / REFERENCE
    return reference if reference.is_dir() else into / truth_name(task)


def truth_name(task: Task) -> str:
    """A ground truth passed as a file: `truth` with its format's extension (`truth.csv`, `truth.zip`, `truth`)."""
    return f"truth{extension(task)}"


def stage_sample(data: bytes, filename: str, into: Path) -> Path:
    """A host's sample submission as a file named like the upload (only safe characters kept)."""
    name = _SAFE_NAME.sub("_", Path(filename).name).lstrip(".")[:100] or "sample"
    path = into / name
    path.write_bytes(data)
    path.chmod(_FILE_MODE)
    return path


def limits_of(task: Task) -> ProgramLimits:
    spec = task.program
    return ProgramLimits(wall_seconds=spec.wall_s, cpu_seconds=spec.cpu_s, memory_bytes=spec.memory_mb * MiB,
                         file_bytes=spec.file_mb * MiB, processes=spec.processes)


def program_for(task: Task, program_dir: Path, truth: Path) -> Program:
    """The run of `task`'s program: its folder, ground truth, contract, the task's columns (their headers: a result
    is keyed by them) and the task's limits."""
    return Program(program_dir=program_dir, truth=truth, contract=Contract(task.program.contract),
                   columns=tuple(column.header for column in task.columns), limits=limits_of(task))


def program_key(task_id: str, sha256: str) -> str:
    """Where a program version is kept in the programs bucket (named by its digest, never overwritten)."""
    return f"{task_id}/{sha256}.zip"


def size_limit_text() -> str:
    return readable_size(MAX_PROGRAM_BYTES)
