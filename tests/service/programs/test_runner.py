"""The program runner against the real bubblewrap sandbox: both contracts, the participant's and the host's view of
a failure, warm workers, and hostile programs and submissions, each failing with a clear reason while the worker
stays up and the next job scores."""

from __future__ import annotations

import io
import os
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium_runtime.programs.contracts import PROGRAM_FAILED, Contract, ProgramResult
from podium_runtime.programs.pool import Program, ProgramPool, check_program
from podium_runtime.programs.sandbox import Isolation, ProgramLimits, SandboxConfig, SandboxUnavailable

MiB = 1 << 20
SECRET = "podium-fake-secret-7f3a9c"
# Small limits keep the hostile cases fast; 512 MiB leaves room for numpy's import.
HOSTILE = ProgramLimits(wall_seconds=5, cpu_seconds=1, memory_bytes=512 * MiB, file_bytes=1 * MiB,
                        tmp_bytes=16 * MiB, processes=16, output_bytes=1 * MiB, startup_seconds=120)
LIMITS = ProgramLimits(wall_seconds=60, memory_bytes=1024 * MiB, startup_seconds=120)

SPEARMAN = """
    import os
    import numpy as np
    from scipy.stats import spearmanr
    from podium_runtime.programs.participant import ParticipantVisibleError

    IMPORTED_IN = os.getpid()

    def score(truth, submission, context):
        expected = np.loadtxt(truth)
        predicted = np.loadtxt(submission)
        print("scoring", submission.name)
        if predicted.shape != expected.shape:
            raise ParticipantVisibleError(f"expected {expected.size} values, one per line")
        return {
            "public": {"Spearman": spearmanr(expected[:6], predicted[:6]).statistic},
            "private": {"Spearman": spearmanr(expected[6:], predicted[6:]).statistic},
            "details": {"imported_in": IMPORTED_IN, "pid": os.getpid()},
        }
"""

HOSTILE_PROGRAM = """
    import glob, os, signal, socket, sys, time

    def score(truth, submission, context):
        attack = submission.read_text().strip()
        seen = []
        if attack == "socket":
            socket.create_connection(("1.1.1.1", 80), timeout=3)
        elif attack == "shadow":
            seen.append(open("/etc/shadow").read())
        elif attack == "other-truth":
            seen.append(open(context["other_truth"]).read())
        elif attack == "environment":
            seen += [f"{key}={value}" for key, value in os.environ.items()]
            for path in glob.glob("/proc/*/environ") + glob.glob("/proc/*/cmdline"):
                try:
                    seen.append(open(path, "rb").read().decode(errors="replace"))
                except OSError:
                    pass
        elif attack == "write-outside":
            for path in (context["program_file"], str(submission) + ".x", "/usr/podium-was-here", "/podium/x"):
                try:
                    open(path, "w").write("x")
                    seen.append(path)
                except OSError:
                    pass
            if seen:
                return {"public": {"value": 0.0}, "private": {"value": 0.0}, "details": {"written": seen}}
            raise PermissionError("every write outside the temporary folder failed")
        elif attack == "fork-bomb":
            while True:
                os.fork()
        elif attack == "allocate-10-GB":
            blocks = [bytearray(1 << 30) for _ in range(10)]
        elif attack == "sleep-forever":
            time.sleep(10**6)
        elif attack == "busy-loop":
            while True:
                pass
        elif attack == "print-a-gigabyte":
            line = "x" * (1 << 20)
            for _ in range(1024):
                sys.stdout.write(line)
        elif attack == "big-file":
            with open("/tmp/big", "wb") as big:
                big.write(b"\\0" * (4 << 20))
        elif attack == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif attack == "kill-the-worker":
            os.kill(os.getppid(), signal.SIGKILL)
            time.sleep(10**6)
        return {"public": {"value": 1.0}, "private": {"value": 2.0},
                "details": {"seen": seen, "worker": os.getppid()}}
"""

CODABENCH_JSON = """
    import json, os, sys
    import numpy as np

    input_dir, output_dir = sys.argv[1], sys.argv[2]
    truth = np.loadtxt(os.path.join(input_dir, "ref", "truth.txt"))
    predicted = np.loadtxt(os.path.join(input_dir, "res", "predictions.txt"))
    accuracy = float(np.mean(truth == predicted))
    with open(os.path.join(output_dir, "scores.json"), "w") as scores:
        json.dump({"accuracy": accuracy, "duration": 0.5}, scores)
"""

CODABENCH_TXT = """
    import os, sys
    input_dir, output_dir = sys.argv[1], sys.argv[2]
    truth = open(os.path.join(input_dir, "ref", "truth.txt")).read().split()
    predicted = open(os.path.join(input_dir, "res", "predictions.txt")).read().split()
    matches = sum(a == b for a, b in zip(truth, predicted))
    with open(os.path.join(output_dir, "scores.txt"), "w") as scores:
        scores.write(f"accuracy: {matches / len(truth)}\\nset1_score: 1\\n")
"""


def write_program(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "score.py").write_text(textwrap.dedent(source))
    return folder


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProgramPool]:
    # A secret in the runner's own environment, which no program may see.
    os.environ["PODIUM_FAKE_SECRET"] = SECRET
    running = ProgramPool(SandboxConfig(isolation=Isolation.BUBBLEWRAP), tmp_path_factory.mktemp("pool"))
    yield running
    running.close()
    os.environ.pop("PODIUM_FAKE_SECRET", None)


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tasks")
    (root / "truth.txt").write_text("\n".join(str(value) for value in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]))
    (root / "other-task-truth.txt").write_text("another task's private ground truth")
    write_program(root / "spearman", SPEARMAN)
    write_program(root / "hostile", HOSTILE_PROGRAM)
    return root


def submission(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def spearman(tasks: Path) -> Program:
    return Program(tasks / "spearman", tasks / "truth.txt", Contract.FUNCTION, ("Spearman",), LIMITS)


def hostile(tasks: Path) -> Program:
    return Program(tasks / "hostile", tasks / "truth.txt", Contract.FUNCTION, ("value",), HOSTILE)


def test_a_function_program_scores_with_scipy(pool: ProgramPool, tasks: Path, tmp_path: Path) -> None:
    predictions = submission(tmp_path, "predictions.txt", "\n".join(map(str, [1, 3, 2, 4, 5, 6, 10, 9, 8, 7])))
    result = pool.run(spearman(tasks), predictions)
    assert result.ok, result
    assert result.public["Spearman"] == pytest.approx(0.9428571428571428)
    assert result.private["Spearman"] == pytest.approx(-1.0)
    assert result.stdout == "scoring predictions.txt\n"


def test_the_worker_imports_once_and_forks_per_job(pool: ProgramPool, tasks: Path, tmp_path: Path) -> None:
    predictions = submission(tmp_path, "predictions.txt", "\n".join(map(str, range(10))))
    first, second = (pool.run(spearman(tasks), predictions) for _ in range(2))
    assert first.details["imported_in"] == second.details["imported_in"]
    assert len({first.details["pid"], second.details["pid"], first.details["imported_in"]}) == 3


def test_participant_visible_error_reaches_the_participant(pool: ProgramPool, tasks: Path, tmp_path: Path) -> None:
    result = pool.run(spearman(tasks), submission(tmp_path, "short.txt", "1\n2\n3\n"))
    assert not result.ok
    assert result.participant_message == "expected 10 values, one per line"
    assert "ParticipantVisibleError" in result.traceback


def test_any_other_exception_is_the_program_failing(pool: ProgramPool, tasks: Path, tmp_path: Path) -> None:
    result = pool.run(spearman(tasks), submission(tmp_path, "words.txt", "not numbers at all\n"))
    assert not result.ok
    assert result.participant_message == PROGRAM_FAILED
    assert result.host_reason == "the program raised ValueError"
    assert "np.loadtxt(submission)" in result.traceback
    assert "Traceback" not in result.participant_message


@pytest.mark.parametrize(("source", "columns"), [(CODABENCH_JSON, ("accuracy",)), (CODABENCH_TXT, ("accuracy",))])
def test_codabench_programs_write_scores_json_or_txt(
    pool: ProgramPool, tasks: Path, tmp_path: Path, source: str, columns: tuple[str, ...]
) -> None:
    program = Program(write_program(tmp_path / "program", source), tasks / "truth.txt", Contract.CODABENCH, columns,
                      LIMITS)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("predictions.txt", "\n".join(map(str, [1, 2, 3, 4, 5, 6, 7, 8, 0, 0])))
    result = pool.run(program, _bytes(tmp_path, buffer))
    assert result.ok, result
    assert result.public == result.private == {"accuracy": pytest.approx(0.8)}
    other = "duration" if source is CODABENCH_JSON else "set1_score"
    assert other in result.details["other_scores"]


def _bytes(folder: Path, buffer: io.BytesIO) -> Path:
    path = folder / "submission.zip"
    path.write_bytes(buffer.getvalue())
    return path


def test_a_codabench_program_without_scores_file_says_what_was_looked_for(
    pool: ProgramPool, tasks: Path, tmp_path: Path
) -> None:
    source = "import sys, os\nopen(os.path.join(sys.argv[2], 'score.json'), 'w').write('{}')\n"
    program = Program(write_program(tmp_path / "program", source), tasks / "truth.txt", Contract.CODABENCH,
                      ("accuracy",), LIMITS)
    result = pool.run(program, submission(tmp_path, "predictions.txt", "1\n"))
    assert not result.ok
    assert result.host_reason == (
        "could not find the scores file: looked for OUTPUT/scores.json and OUTPUT/scores.txt (OUTPUT is score.py's "
        "second argument) and found score.json there"
    )


def test_a_missing_module_is_named_at_the_upload_check(pool: ProgramPool, tasks: Path, tmp_path: Path) -> None:
    # torch is installed for the services, but not offered to programs.
    program = Program(write_program(tmp_path / "program", "import torch\ndef score(t, s, c):\n    return {}\n"),
                      tasks / "truth.txt", Contract.FUNCTION, ("value",), HOSTILE)
    result = check_program(pool, program, submission(tmp_path, "sample.txt", "1\n"))
    assert not result.ok
    assert result.missing_module == "torch"
    assert "imports 'torch', which the scoring environment does not offer" in result.host_reason
    assert result.host_reason.startswith("the program failed on the sample submission: importing score.py failed")


def ok_after(pool: ProgramPool, tasks: Path, tmp_path: Path) -> ProgramResult:
    result = pool.run(hostile(tasks), submission(tmp_path, "fine.txt", "fine"))
    assert result.ok, result
    assert result.public == {"value": 1.0}
    return result


REFUSED = {
    "socket": ("the program raised OSError", "Network is unreachable"),
    "shadow": ("the program raised FileNotFoundError", "/etc/shadow"),
    "other-truth": ("the program raised FileNotFoundError", "other-task-truth.txt"),
    "write-outside": ("the program raised PermissionError", "every write outside the temporary folder failed"),
    "fork-bomb": ("the program could not start another process or thread: its limit is 16", "fork"),
    "allocate-10-GB": ("the program ran out of memory: its limit is 512.0 MiB", "bytearray"),
    "sleep-forever": ("the program ran longer than its wall-time limit of 5 s; it was stopped", ""),
    "busy-loop": ("the program used more than its CPU-time limit of 1 s", ""),
    "print-a-gigabyte": ("the program printed more than 1.0 MiB (stdout and stderr); it was stopped", ""),
    "big-file": ("the program wrote a file larger than its limit of 1.0 MiB", "big.write"),
    "crash": ("the program was killed by SIGSEGV", ""),
}


@pytest.mark.parametrize("attack", list(REFUSED))
def test_a_hostile_program_fails_with_a_reason_and_the_worker_stays_up(
    pool: ProgramPool, tasks: Path, tmp_path: Path, attack: str
) -> None:
    before = ok_after(pool, tasks, tmp_path)
    context = {"other_truth": str(tasks / "other-task-truth.txt"), "program_file": str(tasks / "hostile" / "x.py")}
    result = pool.run(hostile(tasks), submission(tmp_path, "attack.txt", attack), context)
    reason, in_traceback = REFUSED[attack]
    assert not result.ok
    assert result.host_reason == reason
    assert in_traceback in result.traceback
    assert result.participant_message == PROGRAM_FAILED
    assert len(result.stdout) <= HOSTILE.kept_output_bytes
    after = ok_after(pool, tasks, tmp_path)
    assert after.details["worker"] == before.details["worker"]  # the same warm worker served all three
    assert not (tasks / "hostile" / "x.py").exists()


def test_the_service_environment_is_not_visible(pool: ProgramPool, tasks: Path, tmp_path: Path) -> None:
    assert os.environ["PODIUM_FAKE_SECRET"] == SECRET
    result = pool.run(hostile(tasks), submission(tmp_path, "attack.txt", "environment"))
    assert result.ok, result
    seen = "\n".join(result.details["seen"])
    assert "PATH=/usr/bin" in seen  # the program did read its environment and /proc
    assert SECRET not in seen
    assert "PODIUM_" not in seen


def test_a_worker_that_dies_is_replaced(pool: ProgramPool, tasks: Path, tmp_path: Path) -> None:
    before = ok_after(pool, tasks, tmp_path)
    result = pool.run(hostile(tasks), submission(tmp_path, "attack.txt", "kill-the-worker"))
    assert not result.ok
    assert result.host_reason == "the program's worker stopped answering; it was replaced"
    after = ok_after(pool, tasks, tmp_path)
    assert after.details["seen"] == []
    assert before.ok and after.ok


def test_a_retired_versions_worker_stops_and_a_later_job_starts_another(pool: ProgramPool, tasks: Path,
                                                                        tmp_path: Path) -> None:
    predictions = submission(tmp_path, "predictions.txt", "\n".join(map(str, range(10))))
    assert pool.run(spearman(tasks), predictions).ok
    warm = pool.workers()
    pool.retire(spearman(tasks))
    assert pool.workers() == warm - 1
    pool.retire(spearman(tasks))  # one without a worker: nothing to do
    assert pool.run(spearman(tasks), predictions).ok
    assert pool.workers() == warm


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


@pytest.mark.parametrize(
    ("members", "refusal"),
    [
        ({"../predictions.txt": b"1\n"}, "../predictions.txt: paths with '..' are not accepted"),
        ({"predictions.txt": bytes(100 * MiB)}, "predictions.txt: 100.0 MiB uncompressed; the limit is 64.0 MiB"),
    ],
)
def test_a_hostile_submission_meets_the_zip_limits(
    pool: ProgramPool, tasks: Path, tmp_path: Path, members: dict[str, bytes], refusal: str
) -> None:
    program = Program(write_program(tmp_path / "program", CODABENCH_JSON), tasks / "truth.txt", Contract.CODABENCH,
                      ("accuracy",), LIMITS)
    result = pool.run(program, _zip(tmp_path / "submission.zip", members))
    assert not result.ok
    assert result.participant_message.startswith(refusal)
    fine = pool.run(program, _zip(tmp_path / "fine.zip", {"predictions.txt": b"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n"}))
    assert fine.ok, fine
    assert fine.public == {"accuracy": 1.0}


def test_the_weaker_fallback_is_a_setting(tasks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SandboxUnavailable, match="set the isolation to 'rlimits-only'"):
        ProgramPool(SandboxConfig(bwrap="/nonexistent/bwrap"), tmp_path / "none")
    monkeypatch.setenv("PODIUM_FAKE_SECRET", SECRET)
    fallback = ProgramPool(SandboxConfig(isolation=Isolation.RLIMITS_ONLY), tmp_path / "pool")
    try:
        predictions = submission(tmp_path, "predictions.txt", "\n".join(map(str, [1, 3, 2, 4, 5, 6, 10, 9, 8, 7])))
        result = fallback.run(spearman(tasks), predictions)
        environment = fallback.run(hostile(tasks), submission(tmp_path, "attack.txt", "environment"))
    finally:
        fallback.close()
    assert result.ok, result
    assert result.public["Spearman"] == pytest.approx(0.9428571428571428)
    # Its environment is emptied; /proc is not hidden (the fallback is weaker: it says so).
    assert f"PODIUM_FAKE_SECRET={SECRET}" not in environment.details["seen"]
