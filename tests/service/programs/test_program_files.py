"""cpu_scorer's program files against the real S3 and the real sandboxed pool: a program fetched by digest is staged
as the check at upload staged it (a ZIP the check refuses is one the scorer cannot run either), and a replaced
program's worker and files are retired once more recent versions are kept, while the ground truth both versions read
stays."""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
import zipfile
from pathlib import Path

import pytest
from minio import Minio

from cpu_scorer.programs import ProgramFiles, ProgramMissing, ProgramVersions
from deploy.stack import EmbeddedStack
from podium_runtime import ground_truth
from podium_runtime.connections import create_s3
from podium_runtime.program_files import program_key, single_file_zip
from podium_runtime.programs.pool import ProgramPool
from podium_runtime.programs.sandbox import Isolation, SandboxConfig
from proto.competition import MetricColumn, ProgramSpec, Task
from proto.storage import PROGRAMS_BUCKET

TRUTH = b"1\n2\n3\n"
# Two versions of a host's program: the same columns, a different digest.
VERSIONS = [f"def score(truth, submission, context):\n    return {{'public': {{'Exact': {value}}}, "
            f"'private': {{'Exact': {value}}}, 'details': {{}}}}\n" for value in (1.0, 0.5)]


@pytest.fixture(scope="module")
def storage(stack: EmbeddedStack) -> Minio:
    s3 = create_s3(stack.settings())
    for bucket in (PROGRAMS_BUCKET, ground_truth.BUCKET):
        if not s3.bucket_exists(bucket):
            s3.make_bucket(bucket)
    return s3


@pytest.fixture
def pool(tmp_path: Path) -> ProgramPool:
    return ProgramPool(SandboxConfig(isolation=Isolation.BUBBLEWRAP), tmp_path / "workers")


def put(storage: Minio, bucket: str, key: str, data: bytes) -> str:
    storage.put_object(bucket, key, io.BytesIO(data), len(data))
    return hashlib.sha256(data).hexdigest()


def program_task(storage: Minio, task_id: str, program: bytes) -> Task:
    """A `file` program task whose program and ground truth are in storage, named by key and digest."""
    digest = hashlib.sha256(program).hexdigest()
    key = program_key(task_id, digest)
    put(storage, PROGRAMS_BUCKET, key, program)
    truth_key = f"{task_id}/truth"
    return Task(id=task_id, title=task_id, kind="cpu", format="file", metric="program",
                metrics=(MetricColumn(name="program", column="Exact", primary=True),),
                program=ProgramSpec(key=key, sha256=digest), ground_truth=truth_key,
                ground_truth_sha256=put(storage, ground_truth.BUCKET, truth_key, TRUTH))


async def test_a_replaced_programs_worker_and_files_go_and_the_ground_truth_stays(
        storage: Minio, pool: ProgramPool, tmp_path: Path) -> None:
    task_id = f"t-{uuid.uuid4().hex[:8]}"
    files = ProgramFiles(storage, tmp_path / "files", pool, ProgramVersions(keep=1))
    submission = tmp_path / "submission.txt"
    submission.write_bytes(TRUTH)
    try:
        first = await files.acquire(program_task(storage, task_id, single_file_zip(VERSIONS[0].encode())))
        assert (first.program_dir / "score.py").read_text() == VERSIONS[0]
        assert first.truth.name == "truth" and first.truth.read_bytes() == TRUTH
        assert (await asyncio.to_thread(pool.run, first, submission)).public == {"Exact": 1.0}
        await files.release(first)
        assert first.program_dir.is_dir() and pool.workers() == 1  # the most recent version: kept warm

        second = await files.acquire(program_task(storage, task_id, single_file_zip(VERSIONS[1].encode())))
        assert second.truth == first.truth  # the same ground truth, staged once
        assert (await asyncio.to_thread(pool.run, second, submission)).public == {"Exact": 0.5}
        assert pool.workers() == 2
        await files.release(second)
        assert not first.program_dir.exists() and pool.workers() == 1
        assert (second.program_dir / "score.py").is_file() and second.truth.read_bytes() == TRUTH
    finally:
        pool.close()


async def test_a_stored_program_the_check_would_refuse_is_not_run(storage: Minio, pool: ProgramPool,
                                                                  tmp_path: Path) -> None:
    files = ProgramFiles(storage, tmp_path / "files", pool)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("score.py", VERSIONS[0])
        archive.writestr("lib/x.py", "")
    task = program_task(storage, f"t-{uuid.uuid4().hex[:8]}", buffer.getvalue())
    try:
        with pytest.raises(ProgramMissing, match=r"cannot be run: the program's ZIP was refused: lib/x.py: folders"):
            await files.acquire(task)
        assert files.versions.kept == [] and pool.workers() == 0
        assert [path.name for path in (tmp_path / "files").iterdir()] == []  # nothing half-staged left behind
    finally:
        pool.close()
