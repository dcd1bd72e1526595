"""gpu_scorer's handler in memory (FastStream's TestNatsBroker, no server): a SubmissionReceived published on its
subject is decoded and handed to the scorer built from the service's Deps — a model task's event becomes a scoring
job with the model refusals, any other task's a ScoreFailed the participant can read, and the engine, storage and
test sets are not touched. A submission naming a competition version the scorer has not seen yet waits for it (or
goes back to JetStream), and an archived task still scores what was queued. Models are scored against real servers
in tests/service/gpu and tests/service/scorers."""

from __future__ import annotations

import asyncio

import msgspec
import numpy as np
import pytest
from faststream.nats import NatsBroker, TestNatsBroker

from gpu_scorer.app import create_app
from gpu_scorer.bootstrap import Deps, GpuScorerSettings
from gpu_scorer.handlers import FAILURE_CODES, evaluate
from gpu_scorer.metrics import classify
from podium_runtime.competition import CurrentCompetition
from podium_runtime.service import create_bus
from proto import codec
from proto.events import SubmissionReceived
from proto.streams import SUBMISSIONS
from tests.unit import fakes
from tests.unit.fakes import COMPETITION, RecordedJobs, Untouchable, WatchedCompetition, current_competition


def received(task_id: str, kind: str = "gpu") -> SubmissionReceived:
    return fakes.received(task_id, kind, "42", ".onnx")


@pytest.fixture
def jobs() -> RecordedJobs:
    return RecordedJobs()


@pytest.fixture
def app(jobs: RecordedJobs):  # noqa: ANN201
    settings = GpuScorerSettings()
    deps = Deps(competition=current_competition(), bus=create_bus("gpu_scorer", settings), s3=Untouchable("s3"),  # type: ignore[arg-type]
                engine=Untouchable("engine"), test_sets=Untouchable("test_sets"), jobs=jobs)  # type: ignore[arg-type]
    return create_app(settings, deps)


async def test_a_model_submission_becomes_a_scoring_job(app, jobs: RecordedJobs) -> None:  # noqa: ANN001
    event = received("digits")
    async with TestNatsBroker(app.broker) as broker:
        await broker.publish(codec.encode(event), event.subject(), stream=SUBMISSIONS.name)
    assert [(run_event, dict(refusals)) for run_event, refusals in jobs.runs] == [(event, FAILURE_CODES)]
    assert jobs.failures == []


@pytest.mark.parametrize("task_id", ["reconstruction", "no-such-task"])
async def test_an_event_for_another_task_fails_with_a_reason(app, jobs: RecordedJobs, task_id: str) -> None:  # noqa: ANN001
    event = received(task_id)
    async with TestNatsBroker(app.broker) as broker:
        await broker.publish(codec.encode(event), event.subject(), stream=SUBMISSIONS.name)
    assert jobs.failures == [(event, f"task {task_id!r} is not a model task of this competition", "unknown_task")]
    assert jobs.runs == []


def test_the_metrics_split_the_samples_as_the_task_does() -> None:
    task = COMPETITION.task("digits")
    assert task is not None
    rng = np.random.default_rng(3)
    labels = rng.integers(0, task.model.classes, 200)
    scores = rng.random((200, task.model.classes))
    public, private, speed = evaluate(task, scores, labels, [0.01, 0.03])
    mask = np.array(task.split.private_samples(200), dtype=bool)
    assert 0 < mask.sum() < 200
    assert public == classify(scores[~mask], labels[~mask], task.model.classes, task.model.top_k)
    assert private == classify(scores[mask], labels[mask], task.model.classes, task.model.top_k)
    assert speed["latency_p50_ms"] == pytest.approx(20.0)


# --- the competition version a submission names ---------------------------------------------------------------

WITHOUT_DIGITS = msgspec.structs.replace(COMPETITION, tasks=tuple(t for t in COMPETITION.tasks if t.id != "digits"))


def broker_following(competition: CurrentCompetition, jobs: RecordedJobs) -> NatsBroker:
    """The scorer's broker, its handler wired to `competition`."""
    settings = GpuScorerSettings()
    deps = Deps(competition=competition, bus=create_bus("gpu_scorer", settings), s3=Untouchable("s3"),  # type: ignore[arg-type]
                engine=Untouchable("engine"), test_sets=Untouchable("test_sets"), jobs=jobs)  # type: ignore[arg-type]
    create_app(settings, deps)
    return deps.bus.broker


async def test_a_model_waits_for_the_competition_version_it_names(jobs: RecordedJobs) -> None:
    competition = WatchedCompetition(fakes.version(1, WITHOUT_DIGITS))
    event = fakes.received("digits", "gpu", "42", ".onnx", competition_version=2)
    async with TestNatsBroker(broker_following(competition, jobs)) as broker:
        publishing = asyncio.create_task(broker.publish(codec.encode(event), event.subject(), stream=SUBMISSIONS.name))
        async with asyncio.timeout(30):  # a scorer that does not wait would fail the job instead: never set
            await competition.waiting.wait()
        assert (competition.asked, jobs.runs, jobs.failures) == ([2], [], [])
        assert competition.offer(fakes.version(2))
        await publishing
    assert ([run_event for run_event, _ in jobs.runs], jobs.failures, jobs.retries) == ([event], [], [])


async def test_a_version_that_does_not_come_hands_the_model_back(jobs: RecordedJobs) -> None:
    competition = WatchedCompetition(fakes.version(1, WITHOUT_DIGITS), gives_up=True)
    event = fakes.received("digits", "gpu", "42", ".onnx", competition_version=2)
    async with TestNatsBroker(broker_following(competition, jobs)) as broker:
        await broker.publish(codec.encode(event), event.subject(), stream=SUBMISSIONS.name)
    assert jobs.retries == [(event, "competition version 2 has not reached this scorer yet")]
    assert (jobs.runs, jobs.failures) == ([], [])


async def test_an_archived_model_task_still_scores_what_was_queued(jobs: RecordedJobs) -> None:
    archived = msgspec.structs.replace(COMPETITION, tasks=tuple(
        msgspec.structs.replace(task, archived=True) for task in COMPETITION.tasks))
    event = received("digits")
    async with TestNatsBroker(broker_following(fakes.current_competition(archived), jobs)) as broker:
        await broker.publish(codec.encode(event), event.subject(), stream=SUBMISSIONS.name)
    assert ([run_event for run_event, _ in jobs.runs], jobs.failures) == ([event], [])
