"""Both scorers against the real object storage, under the competition they hold: a score records the competition
version the scorer used, the task's scoring identity and the ground truth's digest; a new version with a new ground
truth is used at once; and a ground truth whose stored bytes are not the ones the competition records is never
scored against (the platform's fault: GroundTruthMissing, which the job reporter retries — no outcome, no details,
nothing for the participant to fix)."""

from __future__ import annotations

import hashlib
import io
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from minio import Minio
from msgspec.structs import replace

from cpu_scorer.bootstrap import BUCKETS as CPU_BUCKETS
from cpu_scorer.handlers import CpuScorer
from deploy import demo
from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from gpu_scorer.engines import OnnxRuntimeEngine
from gpu_scorer.handlers import GpuScorer
from podium_runtime.ground_truth import (
    BUCKET,
    GroundTruthCache,
    GroundTruthMissing,
    parse_arrays,
    parse_coco,
    parse_masks,
    parse_solution,
    parse_test_set,
)
from podium_runtime.scoring.archive import ArchiveLimits
from podium_runtime.service import open_object_store
from podium_runtime.settings import ServiceSettings
from proto.competition import Competition, ModelSignature, Split, Task
from proto.events import SubmissionReceived
from proto.storage import DETAILS_BUCKET
from tests.onnx_models import baseline_weights, linear_model, to_bytes
from tests.unit.fakes import ComputingJobs, RecordedJobs, Untouchable, current_competition


@pytest.fixture
async def s3(settings: ServiceSettings) -> Minio:
    return await open_object_store(settings, CPU_BUCKETS)


def put(s3: Minio, bucket: str, key: str, data: bytes) -> str:
    s3.put_object(bucket, key, io.BytesIO(data), len(data))
    return hashlib.sha256(data).hexdigest()


def submission(s3: Minio, task: Task, data: bytes, suffix: str, competition_version: int) -> SubmissionReceived:
    key = f"{task.id}/1{suffix}"
    return SubmissionReceived(
        submission_id="1", team_id="7", task_id=task.id, kind=task.kind, object_key=key,
        sha256=put(s3, "submissions", key, data), size_bytes=len(data), submitted_at=datetime(2026, 1, 2, tzinfo=UTC),
        scorer_version="identity-when-accepted", competition_version=competition_version)


def tensor_task(**fields: Any) -> Task:
    task_id = f"gt-{uuid.uuid4().hex[:8]}"
    return Task(id=task_id, title="t", kind="cpu", metric="psnr", samples=6, shape=(2, 3),
                ground_truth=f"{task_id}/ground_truth.zip", split=Split(private_fraction=0.5, seed=5), **fields)


def cpu_scorer(s3: Minio, task: Task, version: int, jobs: RecordedJobs) -> CpuScorer:
    return CpuScorer(competition=current_competition(Competition(tasks=(task,)), version), limits=ArchiveLimits(),
                     broker=Untouchable("broker"), s3=s3, ground_truth=GroundTruthCache(s3, parse_arrays),  # type: ignore[arg-type]
                     solutions=GroundTruthCache(s3, parse_solution), masks=GroundTruthCache(s3, parse_masks),
                     detections=GroundTruthCache(s3, parse_coco), jobs=jobs,  # type: ignore[arg-type]
                     programs=Untouchable("programs"))  # type: ignore[arg-type]  # no program task here


async def test_a_tensor_score_records_the_version_the_identity_and_the_ground_truth(s3: Minio) -> None:
    task = tensor_task()
    truth = make_ground_truth(task)
    task = replace(task, ground_truth_sha256=put(s3, BUCKET, task.ground_truth, npy_zip(truth)))
    jobs = ComputingJobs()
    scorer = cpu_scorer(s3, task, 3, jobs)
    # Accepted under version 2; the scorer already holds version 3: it scores under 3 and says so.
    event = submission(s3, task, npy_zip(noisy_submission(truth, 0.1, seed=1)), ".zip", competition_version=2)
    await scorer.score(event, Untouchable("message"))  # type: ignore[arg-type]
    assert jobs.errors == []
    [score] = jobs.outcomes
    assert (score.competition_version, score.identity, score.ground_truth_sha256, score.scorer_version) == (
        3, task.scorer_version, task.ground_truth_sha256, "identity-when-accepted")
    assert 0 < score.public_score < 100

    # The host puts a new ground truth (a new digest, so a new identity): the next job uses it at once.
    other = make_ground_truth(replace(task, split=Split(seed=99)))
    key = f"{task.id}/ground_truth-2.zip"
    renewed = replace(task, ground_truth=key, ground_truth_sha256=put(s3, BUCKET, key, npy_zip(other)))
    assert renewed.scorer_version != task.scorer_version
    assert scorer.competition.offer(current_competition(Competition(tasks=(renewed,)), 4).version)
    await scorer.score(event, Untouchable("message"))  # type: ignore[arg-type]
    assert jobs.errors == []
    assert (jobs.outcomes[1].competition_version, jobs.outcomes[1].identity,
            jobs.outcomes[1].ground_truth_sha256) == (4, renewed.scorer_version, renewed.ground_truth_sha256)
    assert jobs.outcomes[1].public_score != score.public_score


async def test_ground_truth_replaced_behind_the_platforms_back_is_never_scored_against(s3: Minio) -> None:
    task = tensor_task()
    recorded = put(s3, BUCKET, task.ground_truth, npy_zip(make_ground_truth(task)))
    tampered = make_ground_truth(task)
    tampered[task.sample_names()[0]] += 1  # a valid ground truth for the task, but not the recorded one
    put(s3, BUCKET, task.ground_truth, npy_zip(tampered))
    task = replace(task, ground_truth_sha256=recorded)
    jobs = ComputingJobs()
    event = submission(s3, task, npy_zip(noisy_submission(tampered, 0.1)), ".zip", competition_version=1)
    await cpu_scorer(s3, task, 1, jobs).score(event, Untouchable("message"))  # type: ignore[arg-type]
    assert jobs.outcomes == [] and [type(error) for error in jobs.errors] == [GroundTruthMissing]
    assert "digest differs" in str(jobs.errors[0])
    assert list(s3.list_objects(DETAILS_BUCKET, prefix=f"{task.id}/", recursive=True)) == []
    # Not one of the refusals of a participant's archive: JobReporter.run retries it (tests/unit/podium_runtime).
    assert not isinstance(jobs.errors[0], tuple(jobs.runs[0][1]))


def model_task(s3: Minio, test_set: bytes) -> Task:
    task_id = f"gt-{uuid.uuid4().hex[:8]}"
    key = f"{task_id}/test_set.npz"
    return Task(id=task_id, title="t", kind="gpu", metric="accuracy", shape=(64,), ground_truth=key,
                ground_truth_sha256=put(s3, BUCKET, key, test_set), split=Split(private_fraction=0.5, seed=3),
                model=ModelSignature(classes=10, batch_size=64, timeout_s=60))


async def test_a_model_score_records_the_version_the_identity_and_the_test_set(s3: Minio) -> None:
    task = model_task(s3, demo.test_set_npz())
    engine = OnnxRuntimeEngine()
    await engine.start()
    jobs = ComputingJobs()
    scorer = GpuScorer(competition=current_competition(Competition(tasks=(task,)), 5), broker=Untouchable("broker"),  # type: ignore[arg-type]
                       s3=s3, engine=engine, test_sets=GroundTruthCache(s3, parse_test_set), jobs=jobs)  # type: ignore[arg-type]
    event = submission(s3, task, to_bytes(linear_model(*baseline_weights())), ".onnx", competition_version=5)
    await scorer.score(event, Untouchable("message"))  # type: ignore[arg-type]
    assert jobs.errors == []
    [score] = jobs.outcomes
    assert (score.competition_version, score.identity, score.ground_truth_sha256) == (
        5, task.scorer_version, task.ground_truth_sha256)
    assert score.public_score > 0.9


async def test_a_test_set_replaced_behind_the_platforms_back_is_never_run(s3: Minio) -> None:
    task = model_task(s3, demo.test_set_npz())
    with np.load(io.BytesIO(demo.test_set_npz())) as original:
        buffer = io.BytesIO()
        np.savez(buffer, x=original["x"], y=(original["y"] + 1) % 10)
    put(s3, BUCKET, task.ground_truth, buffer.getvalue())
    jobs = ComputingJobs()
    scorer = GpuScorer(competition=current_competition(Competition(tasks=(task,))), broker=Untouchable("broker"),  # type: ignore[arg-type]
                       s3=s3, engine=Untouchable("engine"), test_sets=GroundTruthCache(s3, parse_test_set), jobs=jobs)  # type: ignore[arg-type]
    event = submission(s3, task, to_bytes(linear_model(*baseline_weights())), ".onnx", competition_version=1)
    await scorer.score(event, Untouchable("message"))  # type: ignore[arg-type]
    assert jobs.outcomes == [] and [type(error) for error in jobs.errors] == [GroundTruthMissing]
