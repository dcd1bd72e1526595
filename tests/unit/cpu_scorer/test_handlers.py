"""cpu_scorer's handler in memory (FastStream's TestNatsBroker, no server): a SubmissionReceived published on its
subject is decoded and handed to the scorer built from the service's Deps — a CPU task's event becomes a scoring
job with the archive refusals, any other task's a ScoreFailed the participant can read, and nothing else of the
Deps is touched. The scoring itself runs against real servers in tests/service/submissions."""

from __future__ import annotations

import pytest
from faststream.nats import TestNatsBroker

from cpu_scorer.app import create_app
from cpu_scorer.archive import ArchiveRejected
from cpu_scorer.bootstrap import CpuScorerSettings, Deps
from podium_runtime.service import create_bus
from proto import codec
from proto.events import SubmissionReceived
from proto.streams import SUBMISSIONS
from tests.unit import fakes
from tests.unit.fakes import COMPETITION, COMPETITION_FILE, RecordedJobs, Untouchable


def received(task_id: str, kind: str = "cpu") -> SubmissionReceived:
    return fakes.received(task_id, kind, "41", ".zip")


@pytest.fixture
def jobs() -> RecordedJobs:
    return RecordedJobs()


@pytest.fixture
def app(jobs: RecordedJobs):  # noqa: ANN201
    settings = CpuScorerSettings(competition_file=COMPETITION_FILE)
    deps = Deps(competition=COMPETITION, bus=create_bus("cpu_scorer", settings),
                s3=Untouchable("s3"), ground_truth=Untouchable("ground_truth"), jobs=jobs)  # type: ignore[arg-type]
    return create_app(settings, deps)


async def test_a_cpu_submission_becomes_a_scoring_job(app, jobs: RecordedJobs) -> None:  # noqa: ANN001
    event = received("reconstruction")
    async with TestNatsBroker(app.broker) as broker:
        await broker.publish(codec.encode(event), event.subject(), stream=SUBMISSIONS.name)
    assert [(run_event, dict(refusals)) for run_event, refusals in jobs.runs] == [
        (event, {ArchiveRejected: "archive_rejected"})]
    assert jobs.failures == []


@pytest.mark.parametrize(("task_id", "kind"), [("digits", "cpu"), ("no-such-task", "cpu")])
async def test_an_event_for_another_task_fails_with_a_reason(app, jobs: RecordedJobs, task_id: str,  # noqa: ANN001
                                                             kind: str) -> None:
    event = received(task_id, kind)
    async with TestNatsBroker(app.broker) as broker:
        await broker.publish(codec.encode(event), event.subject(), stream=SUBMISSIONS.name)
    assert jobs.failures == [(event, f"task {task_id!r} is not a CPU task of this competition", "unknown_task")]
    assert jobs.runs == []
