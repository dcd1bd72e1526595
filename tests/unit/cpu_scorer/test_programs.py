"""cpu_scorer's pure part of program tasks (no servers): which program versions stay warm and which are retired
with their files, the checks a tensors program task's submission meets before its program runs, and the ground truth
a program task's reader checks. (The program's unpacking, ground truth, limits and columns are the check at upload's:
tests/unit/podium_runtime/test_program_files.py.)"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cpu_scorer.programs import ProgramVersions, unused_folders
from cpu_scorer.scoring import check_archive
from podium_runtime import ground_truth
from podium_runtime.programs.contracts import Contract
from podium_runtime.programs.pool import Program
from podium_runtime.scoring.archive import ArchiveRejected
from podium_runtime.scoring.refusals import GroundTruthRejected
from proto.competition import MetricColumn, Task


def version(program: str, truth: str = "truth-a") -> Program:
    return Program(Path("/files", f"program-{program}"), Path("/files", truth, "truth.csv"), Contract.FUNCTION,
                   ("Spearman",))


def test_a_replaced_program_is_retired_once_the_kept_versions_are_more_recent() -> None:
    versions = ProgramVersions(keep=2)
    first, second, third = version("1"), version("2"), version("3")
    for program in (first, second):
        versions.started(program)
        assert versions.finished(program) == []
    versions.started(third)
    assert versions.finished(third) == [first]  # the least recently used, no job on it
    assert versions.kept == [second, third]
    versions.started(second)  # used again: now the most recent
    assert versions.finished(second) == []
    versions.started(first)  # a host's revert to an older program: kept again, the least recent retired
    assert versions.finished(first) == [third]


def test_a_version_a_job_is_using_is_never_retired() -> None:
    versions = ProgramVersions(keep=0)
    old, new = version("old"), version("new")
    versions.started(old)
    versions.started(old)
    versions.started(new)
    assert versions.finished(new) == [new]  # the other versions still run a job
    assert versions.finished(old) == []
    assert versions.finished(old) == [old]
    assert versions.kept == []


def test_a_retired_versions_folders_go_unless_a_kept_version_reads_them() -> None:
    old, new, other = version("1", "truth-a"), version("2", "truth-a"), version("3", "truth-b")
    # A new program for the same ground truth: the old program's folder goes, the shared ground truth stays.
    assert unused_folders([old], [new]) == {Path("/files/program-1")}
    assert unused_folders([old, other], []) == {Path("/files/program-1"), Path("/files/program-3"),
                                                Path("/files/truth-a"), Path("/files/truth-b")}


def npy_zip(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.save(member, array)
            archive.writestr(f"{name}.npy", member.getvalue())
    return buffer.getvalue()


def test_a_tensors_program_tasks_submission_meets_the_readers_checks_before_its_program() -> None:
    samples = ["sample_0000", "sample_0001"]
    check_archive(npy_zip({name: np.zeros((2, 3), np.float32) for name in samples}), samples, (2, 3))
    with pytest.raises(ArchiveRejected, match=r"^sample_0001.npy: shape \(3, 2\), expected \(2, 3\)$"):
        check_archive(npy_zip({"sample_0000": np.zeros((2, 3), np.float32),
                               "sample_0001": np.zeros((3, 2), np.float32)}), samples, (2, 3))
    with pytest.raises(ArchiveRejected, match="sample_0001"):
        check_archive(npy_zip({"sample_0000": np.zeros((2, 3), np.float32)}), samples, (2, 3))


PROGRAM_COLUMNS = (MetricColumn(name="program", column="Spearman", primary=True),)


def test_a_program_tasks_ground_truth_is_checked_by_its_formats_reader_alone() -> None:
    """A csv program task's solution passes the csv reader (ids, targets, Usage) with no metric of the library to
    try it on; a file task's is any non-empty file."""
    csv_task = Task(id="c", title="C", kind="cpu", format="csv", metric="program", metrics=PROGRAM_COLUMNS)
    ground_truth.check(b"id,target,Usage\na,0.5,Public\nb,1.5,Private\n", csv_task)
    with pytest.raises(GroundTruthRejected, match="Usage"):
        ground_truth.check(b"id,target\na,0.5\n", csv_task)
    file_task = Task(id="f", title="F", kind="cpu", format="file", metric="program", metrics=PROGRAM_COLUMNS)
    ground_truth.check(b"anything at all", file_task)
    assert ground_truth.extension(file_task) == ""
    with pytest.raises(GroundTruthRejected, match="^the ground truth of task f is empty$"):
        ground_truth.check(b"", file_task)
