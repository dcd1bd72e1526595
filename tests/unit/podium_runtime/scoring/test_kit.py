"""The scoring kit (`podium_runtime.scoring.kit`) with fakes for storage and the job reporter: a submission for a task
the scorer does not take, or in a format it does not take, is refused with the reason its team reads; a format's
refusal ends the job for good and an error on the platform's side hands it back (the real JobReporter decides both);
a scored submission's details are written once, under one key, and its ScoreComputed records the version, the
identity and the ground truth it was scored under."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from faststream.exceptions import NackMessage, RejectMessage
from faststream.nats import NatsBroker, TestNatsBroker

from podium_runtime.jobs import JobReporter
from podium_runtime.scoring.kit import Format, Scored, Scorer, both_splits
from podium_runtime.scoring.refusals import SubmissionRefused
from proto.competition import Competition, MetricColumn, Task
from proto.events import SubmissionReceived
from proto.storage import DETAILS_BUCKET, SUBMISSIONS_BUCKET
from tests.unit import fakes
from tests.unit.fakes import COMPETITION, ComputingJobs, RecordedJobs, Untouchable, current_competition

ARCHIVE = b"the participant's archive"


@dataclass
class StoredObject:
    """A stored object as minio's get_object hands it out: read at most `amt` bytes, then released."""

    data: bytes
    asked: list[int] = field(default_factory=list)
    released: bool = False

    def read(self, amt: int) -> bytes:
        self.asked.append(amt)
        return self.data[:amt]

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        self.released = True


@dataclass
class ObjectStore:
    """The object store: what each (bucket, key) holds, every object read and every object written."""

    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    read: list[StoredObject] = field(default_factory=list)
    written: list[tuple[str, str, bytes, str]] = field(default_factory=list)

    def get_object(self, bucket: str, key: str) -> StoredObject:
        if (bucket, key) not in self.objects:
            raise OSError(f"{bucket}/{key}: storage is away")  # what a connection error looks like from minio
        self.read.append(StoredObject(self.objects[bucket, key]))
        return self.read[-1]

    def put_object(self, bucket: str, key: str, data: io.BytesIO, length: int, content_type: str) -> None:
        self.written.append((bucket, key, data.read(length), content_type))


@dataclass(kw_only=True)
class TensorScorer(Scorer):
    """A scorer of CPU tasks whose formats are the test's."""

    kind = "cpu"
    tasks_named = "a CPU task"
    registry: Mapping[str, Format]

    @property
    def formats(self) -> Mapping[str, Format]:
        return self.registry


def stored(s3: ObjectStore, event: SubmissionReceived, data: bytes = ARCHIVE) -> SubmissionReceived:
    """`event` with its archive stored and its digest recorded, as submission_service leaves it."""
    s3.objects[SUBMISSIONS_BUCKET, event.object_key] = data
    return msgspec.structs.replace(event, sha256=hashlib.sha256(data).hexdigest())


def received(task_id: str = "reconstruction", kind: str = "cpu") -> SubmissionReceived:
    return msgspec.structs.replace(fakes.received(task_id, kind, "41", ".zip"), phase_id="main",
                                   correlation_id="trace-1")


async def psnr_of_30(task: Task, event: SubmissionReceived, data: bytes) -> Scored:
    assert data == ARCHIVE
    return Scored.one_column(task, 30.0, 28.0, metrics={"files_evaluated": 1.0},
                             details={"metric": "psnr", "samples": [{"name": "sample_0000", "psnr": 30.0}]},
                             timings={"scoring": 12.5})


def scorer(jobs: Any, s3: Any = None, registry: Mapping[str, Format] | None = None, number: int = 3,
           competition: Competition = COMPETITION) -> TensorScorer:
    return TensorScorer(competition=current_competition(competition, number), broker=Untouchable("broker"),  # type: ignore[arg-type]
                        s3=s3 if s3 is not None else Untouchable("s3"), jobs=jobs,  # type: ignore[arg-type]
                        registry={"tensors": Format(psnr_of_30)} if registry is None else registry)


# --- what is refused before a job starts ---------------------------------------------------------------------------

@pytest.mark.parametrize(("task_id", "kind"), [("no-such-task", "cpu"), ("digits", "gpu")])
async def test_a_task_the_scorer_does_not_take_is_refused_with_its_reason(task_id: str, kind: str) -> None:
    jobs = RecordedJobs()
    event = received(task_id, kind)
    with pytest.raises(RejectMessage):
        await scorer(jobs).score(event, Untouchable("message"))  # type: ignore[arg-type]
    assert jobs.failures == [(event, f"task {task_id!r} is not a CPU task of this competition", "unknown_task")]
    assert jobs.runs == []


async def test_a_format_the_scorer_does_not_take_is_refused_with_its_reason() -> None:
    jobs = RecordedJobs()
    event = received()
    with pytest.raises(RejectMessage):
        await scorer(jobs, registry={"csv": Format(psnr_of_30)}).score(event, Untouchable("message"))  # type: ignore[arg-type]
    assert jobs.failures == [(event, "task 'reconstruction' takes tensors submissions, which this scorer cannot "
                                     "score; tell the host", "unknown_format")]
    assert jobs.runs == []


PROGRAM_TASK = Task(id="reconstruction", title="t", kind="cpu", metric="program", samples=4, shape=(2,),
                    metrics=(MetricColumn(name="program", column="Spearman", primary=True),))


async def test_a_program_task_is_scored_by_the_program_format_whatever_its_format() -> None:
    """A task whose columns are its program's is scored by the scorer's `program` Format (here a tensors task); a
    scorer without one refuses it, naming the program."""
    competition = msgspec.structs.replace(COMPETITION, tasks=(PROGRAM_TASK,))
    tensors, program = Format(psnr_of_30), Format(psnr_of_30)
    chosen = scorer(RecordedJobs(), registry={"tensors": tensors, "program": program})
    assert chosen.format_for(PROGRAM_TASK) is program
    assert chosen.format_for(msgspec.structs.replace(PROGRAM_TASK, metric="psnr", metrics=())) is tensors
    jobs = RecordedJobs()
    event = received()
    without = scorer(jobs, registry={"tensors": tensors}, competition=competition)
    with pytest.raises(RejectMessage):
        await without.score(event, Untouchable("message"))  # type: ignore[arg-type]
    assert jobs.failures == [(event, "task 'reconstruction' takes a host's program, which this scorer cannot run; "
                                     "tell the host", "unknown_format")]


async def test_the_format_is_picked_by_the_tasks_effective_format() -> None:
    jobs = RecordedJobs()
    refusals: dict[type[Exception], str] = {ValueError: "custom"}
    registry = {"onnx": Format(psnr_of_30), "tensors": Format(psnr_of_30, refusals)}
    await scorer(jobs, registry=registry).score(received(), Untouchable("message"))  # type: ignore[arg-type]
    assert [dict(run_refusals) for _, run_refusals in jobs.runs] == [refusals]
    assert dict(Format(psnr_of_30).refusals) == {SubmissionRefused: "submission_refused"}


# --- a scored submission -------------------------------------------------------------------------------------------

async def test_the_details_are_written_once_under_one_key_and_the_score_records_its_provenance() -> None:
    s3, jobs = ObjectStore(), ComputingJobs()
    event = stored(s3, received())
    task = COMPETITION.task("reconstruction")
    assert task is not None
    await scorer(jobs, s3, number=3).score(event, Untouchable("message"))  # type: ignore[arg-type]
    assert jobs.errors == []
    [score] = jobs.outcomes
    key = "reconstruction/41/v1.json"
    assert [(bucket, written_key, content_type) for bucket, written_key, _, content_type in s3.written] == [
        (DETAILS_BUCKET, key, "application/json")]
    assert json.loads(s3.written[0][2]) == {
        "submission_id": "41", "task_id": "reconstruction", "scorer_version": "v1", "primary": "psnr",
        "psnr_public": 30.0, "psnr_private": 28.0, "metric": "psnr", "samples": [{"name": "sample_0000", "psnr": 30.0}]}
    assert [read.released for read in s3.read] == [True]
    assert msgspec.structs.asdict(score) | {"event_id": "", "occurred_at": None, "durations_ms": {}} == {
        "event_id": "", "occurred_at": None, "correlation_id": "trace-1", "submission_id": "41", "team_id": "7",
        "task_id": "reconstruction", "scorer_version": "v1", "public_score": 30.0, "private_score": 28.0,
        "submitted_at": event.submitted_at, "phase_id": "main",
        "metrics": {"files_evaluated": 1.0, "psnr_public": 30.0, "psnr_private": 28.0}, "details_key": key,
        "archive_sha256": event.sha256, "ground_truth_sha256": task.ground_truth_sha256, "durations_ms": {},
        "competition_version": 3, "identity": task.scorer_version, "public_columns": {"psnr": 30.0},
        "private_columns": {"psnr": 28.0}}
    assert list(score.durations_ms) == ["download", "scoring"] and score.durations_ms["scoring"] == 12.5


# A task of three columns: PSNR ranks, SSIM beside it, and a hidden one only its hosts see.
COLUMNS = (MetricColumn(name="psnr", column="PSNR", primary=True), MetricColumn(name="ssim", column="SSIM"),
           MetricColumn(name="ssim", column="Secret", hidden=True))
WITH_COLUMNS = msgspec.structs.replace(COMPETITION, tasks=tuple(
    msgspec.structs.replace(task, metrics=COLUMNS) if task.id == "reconstruction" else task
    for task in COMPETITION.tasks))


async def three_columns(task: Task, event: SubmissionReceived, data: bytes) -> Scored:
    return Scored({"SSIM": 0.8, "Secret": 0.7, "PSNR": 30.0}, {"PSNR": 28.0, "Secret": 0.6, "SSIM": 0.75},
                  {"files_evaluated": 1.0}, {"metric": "psnr"})


async def test_every_column_reaches_the_score_event_and_a_hidden_one_nothing_a_team_reads() -> None:
    s3, jobs = ObjectStore(), ComputingJobs()
    event = stored(s3, received())
    await scorer(jobs, s3, {"tensors": Format(three_columns)}, competition=WITH_COLUMNS).score(
        event, Untouchable("message"))  # type: ignore[arg-type]
    [score] = jobs.outcomes
    assert (score.public_score, score.private_score) == (30.0, 28.0)  # the primary column's
    assert (score.public_columns, score.private_columns) == (
        {"SSIM": 0.8, "Secret": 0.7, "PSNR": 30.0}, {"PSNR": 28.0, "Secret": 0.6, "SSIM": 0.75})
    assert score.metrics == {"files_evaluated": 1.0, "PSNR_public": 30.0, "PSNR_private": 28.0, "SSIM_public": 0.8,
                             "SSIM_private": 0.75}
    details = json.loads(s3.written[0][2])
    assert {key: value for key, value in details.items() if key not in ("submission_id", "task_id",
                                                                         "scorer_version")} == {
        "primary": "PSNR", "PSNR_public": 30.0, "PSNR_private": 28.0, "SSIM_public": 0.8, "SSIM_private": 0.75,
        "metric": "psnr"}


async def test_a_format_that_scores_other_columns_than_the_tasks_is_the_platforms_error() -> None:
    s3, jobs = ObjectStore(), ComputingJobs()
    await scorer(jobs, s3, {"tensors": Format(psnr_of_30)}, competition=WITH_COLUMNS).score(
        stored(s3, received()), Untouchable("message"))  # type: ignore[arg-type]
    [error] = jobs.errors
    assert isinstance(error, RuntimeError) and not isinstance(error, tuple(jobs.runs[0][1]))  # retried, not refused
    assert str(error) == ("the tensors format scored columns ['PSNR'] and ['PSNR'], not the task's ['PSNR', 'SSIM', "
                          "'Secret']")
    assert s3.written == []


async def test_a_stored_submission_over_the_tasks_limit_is_refused_in_the_formats_words() -> None:
    """Uploads are held to the limit; a host may lower it before a rescore. One byte past the limit is read."""
    lowered = msgspec.structs.replace(COMPETITION, tasks=tuple(
        msgspec.structs.replace(task, max_upload_bytes=len(ARCHIVE) - 1) for task in COMPETITION.tasks))
    s3, jobs = ObjectStore(), ComputingJobs()
    event = stored(s3, received())
    too_large = Format(psnr_of_30, {LookupError: "too_large"}, LookupError, "upload")
    await scorer(jobs, s3, {"tensors": too_large}, competition=lowered).score(event, Untouchable("message"))  # type: ignore[arg-type]
    assert [(type(error), str(error)) for error in jobs.errors] == [
        (LookupError, f"the upload is larger than the task's limit of {len(ARCHIVE) - 1} bytes")]
    assert isinstance(jobs.errors[0], tuple(jobs.runs[0][1]))  # a refusal of the format's: never retried
    assert [read.asked for read in s3.read] == [[len(ARCHIVE)]] and s3.written == []


async def test_the_default_refusal_of_a_file_over_the_limit_is_a_participants_refusal() -> None:
    lowered = msgspec.structs.replace(COMPETITION, tasks=tuple(
        msgspec.structs.replace(task, max_upload_bytes=4) for task in COMPETITION.tasks))
    s3, jobs = ObjectStore(), ComputingJobs()
    await scorer(jobs, s3, competition=lowered).score(stored(s3, received()), Untouchable("message"))  # type: ignore[arg-type]
    assert [(type(error), str(error)) for error in jobs.errors] == [
        (SubmissionRefused, "the file is larger than the task's limit of 4 bytes")]


# --- who is at fault: the real JobReporter ends a refused job and hands back a failed one ---------------------------

@dataclass
class Delivery:
    """The parts of a JetStream message the reporter reads: how often it was delivered; its in-progress acks."""

    delivered: int = 1

    @property
    def raw_message(self) -> SimpleNamespace:
        return SimpleNamespace(metadata=SimpleNamespace(num_delivered=self.delivered))

    async def in_progress(self) -> None:
        pass


@dataclass
class FailureRecordingReporter(JobReporter):
    """The real job lifecycle; the ScoreFailed it would publish is recorded instead."""

    failed: list[tuple[str, str, bool]] = field(default_factory=list)

    async def fail(self, event: SubmissionReceived, reason: str, *, code: str, started: float | None = None,
                   infrastructure: bool = False) -> None:
        self.failed.append((reason, code, infrastructure))


async def refused(task: Task, event: SubmissionReceived, data: bytes) -> Scored:
    raise SubmissionRefused("line 3, column p: 'abc' is not a number")


async def storage_away(task: Task, event: SubmissionReceived, data: bytes) -> Scored:
    raise ConnectionError("the ground truth's storage is away")


async def test_a_participants_refusal_ends_the_job_and_a_platform_error_hands_it_back() -> None:
    broker = NatsBroker()
    s3 = ObjectStore()
    event = stored(s3, received())
    async with TestNatsBroker(broker):
        reporter = FailureRecordingReporter("cpu_scorer", broker, ack_wait_s=60.0, retry_delays_s=(5.0, 15.0))
        reporter.cancellations.loaded.set()
        with pytest.raises(RejectMessage):
            await scorer(reporter, s3, registry={"tensors": Format(refused)}).score(event, Delivery())  # type: ignore[arg-type]
        assert reporter.failed == [("line 3, column p: 'abc' is not a number", "submission_refused", False)]

        with pytest.raises(NackMessage) as nak:
            await scorer(reporter, s3, registry={"tensors": Format(storage_away)}).score(event, Delivery(2))  # type: ignore[arg-type]
        assert nak.value.extra_options == {"delay": 15.0}
        with pytest.raises(NackMessage):  # the submission itself cannot be read: the platform's fault too
            await scorer(reporter, ObjectStore()).score(event, Delivery())  # type: ignore[arg-type]
        await reporter._flush_live()
    assert len(reporter.failed) == 1 and s3.written == []


def test_a_split_left_empty_reports_the_other() -> None:
    assert both_splits(1.0, 2.0) == (1.0, 2.0)
    assert both_splits(None, 2.0) == (2.0, 2.0)
    assert both_splits(1.0, None) == (1.0, 1.0)
    with pytest.raises(ValueError, match="at least one sample"):
        both_splits(None, None)
