"""cpu_scorer's pure part of program tasks (no servers): a program ZIP unpacked for the sandbox (folders allowed,
score.py at its root, nothing outside its folder), a task's limits on one run, the checks a tensors program task's
submission meets before its program runs, and the ground truth a program task's reader checks."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cpu_scorer.programs import ProgramMissing, program_limits, unpack_program
from cpu_scorer.scoring import check_archive
from podium_runtime import ground_truth
from podium_runtime.programs.sandbox import MiB, ProgramLimits
from podium_runtime.scoring.archive import ArchiveRejected
from podium_runtime.scoring.refusals import GroundTruthRejected
from proto.competition import MetricColumn, ProgramSpec, Task


def program_zip(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_a_program_zip_is_unpacked_with_its_folders_readable_by_the_sandbox(tmp_path: Path) -> None:
    unpack_program(program_zip({"score.py": "def score(t, s, c): ...\n", "helpers/ranks.py": "X = 1\n"}), tmp_path)
    assert (tmp_path / "score.py").read_text().startswith("def score")
    assert (tmp_path / "helpers" / "ranks.py").read_text() == "X = 1\n"
    assert stat.S_IMODE((tmp_path / "helpers").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "helpers" / "ranks.py").stat().st_mode) == 0o644


@pytest.mark.parametrize(("data", "reason"), [
    (program_zip({"program/score.py": "", "README": ""}), "the program ZIP has no score.py at its root"),
    (program_zip({"score.py": "", "../escape.py": ""}), "the program ZIP has a path outside its own folder"),
    (program_zip({"score.py": "", "/etc/cron.d/x": ""}), "the program ZIP has a path outside its own folder"),
    (b"def score(t, s, c): ...\n", "the stored program is not a ZIP"),
])
def test_a_stored_program_that_is_not_one_is_refused(tmp_path: Path, data: bytes, reason: str) -> None:
    with pytest.raises(ProgramMissing, match=f"^{reason}"):
        unpack_program(data, tmp_path / "program")
    assert not (tmp_path / "escape.py").exists()


def test_a_tasks_program_limits_are_its_spec_s() -> None:
    spec = ProgramSpec(key="k", sha256="a" * 64, wall_s=2.5, cpu_s=3, memory_mb=512, file_mb=8, processes=4)
    assert program_limits(spec) == ProgramLimits(wall_seconds=2.5, cpu_seconds=3, memory_bytes=512 * MiB,
                                                 file_bytes=8 * MiB, processes=4)


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
