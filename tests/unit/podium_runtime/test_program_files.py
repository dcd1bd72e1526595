"""A host's program as it is stored and staged (pure, no servers), the same for the check at upload and for the
scorer: a .py kept as a deterministic ZIP holding score.py, a ZIP checked and unpacked flat and readable by the
sandbox's uid, the ground truth staged per contract (and found again in a kept folder), and the run's columns and
limits taken from the task."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import msgspec
import pytest

from podium_runtime.program_files import (
    ProgramRejected,
    package,
    program_for,
    program_key,
    stage_sample,
    stage_truth,
    staged_truth,
    unpack_program,
)
from podium_runtime.programs.contracts import Contract
from proto.competition import Task

SOURCE = b"def score(truth, submission, context):\n    return {}\n"


def task(contract: str = "function", **fields: object) -> Task:
    return msgspec.convert({"id": "t", "title": "T", "kind": "cpu", "format": "csv", "metric": "program",
                            "metrics": [{"name": "program", "column": "Spearman", "primary": True},
                                        {"name": "program", "column": "Kendall"}],
                            "program": {"contract": contract, "memory_mb": 512, "wall_s": 5.0}, **fields}, Task)


def zipped(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_py_is_kept_as_the_same_zip_every_time(tmp_path: Path) -> None:
    first, second = package("mine.py", SOURCE, tmp_path / "a"), package("other.py", SOURCE, tmp_path / "b")
    assert first == second  # the same file is the same program: the same digest, no new identity
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.namelist() == ["score.py"] and archive.read("score.py") == SOURCE
    assert (unpack_program(first, tmp_path / "c") / "score.py").read_bytes() == SOURCE


@pytest.mark.parametrize(("filename", "data", "words"), [
    ("p.zip", zipped(**{"main.py": SOURCE}), "no score.py at its root (it holds main.py)"),
    ("p.zip", zipped(**{"score.py": SOURCE, "../up.py": SOURCE}), "the program's ZIP was refused"),
    ("p.zip", zipped(**{"score.py": SOURCE, "/etc/cron.d/x": SOURCE}), "the program's ZIP was refused"),
    ("p.zip", zipped(**{"score.py": SOURCE, "pkg/m.py": SOURCE}), "the program's ZIP was refused"),
    ("p.zip", SOURCE, "not a ZIP archive"),
    ("p.py", b"\xff\xfe", "not UTF-8 text"),
    ("p.tar", SOURCE, "a .py file or a .zip"),
])
def test_what_is_not_a_program_is_refused_with_the_reason(tmp_path: Path, filename: str, data: bytes,
                                                          words: str) -> None:
    with pytest.raises(ProgramRejected) as refused:
        package(filename, data, tmp_path / "program")
    assert words in str(refused.value)


def test_a_program_is_readable_by_the_sandboxs_uid_whatever_the_umask(tmp_path: Path) -> None:
    before = os.umask(0o077)
    try:
        program = unpack_program(zipped(**{"score.py": SOURCE, "ranks.csv": b"1\n"}), tmp_path / "program")
    finally:
        os.umask(before)
    assert stat.S_IMODE(program.stat().st_mode) == 0o755
    assert {stat.S_IMODE(path.stat().st_mode) for path in program.iterdir()} == {0o644}


def test_the_truth_is_a_file_for_a_function_and_a_reference_folder_for_codabench(tmp_path: Path) -> None:
    truth = stage_truth(b"id,target\n", task(), tmp_path / "function")
    assert truth.name == "truth.csv" and truth.read_bytes() == b"id,target\n"
    reference = stage_truth(zipped(**{"truth.txt": b"1\n2\n"}), task("codabench"), tmp_path / "codabench")
    assert reference.name == "ref" and (reference / "truth.txt").read_bytes() == b"1\n2\n"
    plain = stage_truth(b"1\n2\n", task("codabench"), tmp_path / "plain")
    assert plain.is_file()
    # Text that merely starts with the letters PK is no ZIP: passed as a file.
    letters = stage_truth(b"PKey,target\na,1\n", task("codabench"), tmp_path / "letters")
    assert letters.is_file() and letters.read_bytes().startswith(b"PKey")
    # A kept folder tells where its ground truth is, as the scorer finds it again without the bytes.
    for staged, contract in ((truth, "function"), (reference, "codabench"), (plain, "codabench")):
        assert staged_truth(task(contract), staged.parent) == staged


def test_a_codabench_reference_zip_the_program_cannot_read_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProgramRejected, match="^the ground truth's ZIP cannot be the program's reference data: "):
        stage_truth(zipped(**{"../truth.txt": b"1\n"}), task("codabench"), tmp_path / "codabench")
    assert not (tmp_path / "truth.txt").exists()


def test_the_run_takes_the_tasks_columns_and_limits(tmp_path: Path) -> None:
    program = program_for(task(), tmp_path, tmp_path / "truth.csv")
    assert program.columns == ("Spearman", "Kendall") and program.contract is Contract.FUNCTION
    assert (program.limits.memory_bytes, program.limits.wall_seconds) == (512 << 20, 5.0)
    assert program_key("t", "a" * 64) == f"t/{'a' * 64}.zip"
    assert stage_sample(b"x", "../../etc/passwd", tmp_path).parent == tmp_path
