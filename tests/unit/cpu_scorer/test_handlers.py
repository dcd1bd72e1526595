"""cpu_scorer's handler in memory (FastStream's TestNatsBroker, no server): a SubmissionReceived published on its
subject is decoded and handed to the scorer built from the service's Deps — a CPU task's event becomes a scoring
job with the archive refusals, any other task's a ScoreFailed the participant can read, and nothing else of the
Deps is touched. A submission naming a competition version the scorer has not seen yet waits for it (or goes back
to JetStream), and an archived task still scores what was queued. The scoring itself runs against real servers in
tests/service/submissions and tests/service/scorers."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from faststream.nats import NatsBroker, TestNatsBroker

from cpu_scorer.app import create_app
from cpu_scorer.bootstrap import CpuScorerSettings, Deps
from podium_runtime.competition import CurrentCompetition
from podium_runtime.scoring.archive import ArchiveRejected
from podium_runtime.service import create_bus
from proto import codec
from proto.competition import EMPTY
from proto.events import SubmissionReceived
from proto.streams import SUBMISSIONS
from tests.unit import fakes
from tests.unit.fakes import COMPETITION, RecordedJobs, Untouchable, WatchedCompetition, current_competition


def received(task_id: str, kind: str = "cpu") -> SubmissionReceived:
    return fakes.received(task_id, kind, "41", ".zip")


@pytest.fixture
def jobs() -> RecordedJobs:
    return RecordedJobs()


@pytest.fixture
def app(jobs: RecordedJobs):  # noqa: ANN201
    settings = CpuScorerSettings()
    deps = Deps(competition=current_competition(), bus=create_bus("cpu_scorer", settings),
                s3=Untouchable("s3"), ground_truth=Untouchable("ground_truth"),  # type: ignore[arg-type]
                solutions=Untouchable("solutions"), masks=Untouchable("masks"),  # type: ignore[arg-type]
                detections=Untouchable("detections"), jobs=jobs, programs=Untouchable("programs"),  # type: ignore[arg-type]
                program_files=Untouchable("program_files"))  # type: ignore[arg-type]
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


# --- the competition version a submission names ---------------------------------------------------------------

WITHOUT_RECONSTRUCTION = msgspec.structs.replace(
    COMPETITION, tasks=tuple(task for task in COMPETITION.tasks if task.id != "reconstruction"))


def broker_following(competition: CurrentCompetition, jobs: RecordedJobs) -> NatsBroker:
    """The scorer's broker, its handler wired to `competition`."""
    settings = CpuScorerSettings()
    deps = Deps(competition=competition, bus=create_bus("cpu_scorer", settings), s3=Untouchable("s3"),  # type: ignore[arg-type]
                ground_truth=Untouchable("ground_truth"), solutions=Untouchable("solutions"),  # type: ignore[arg-type]
                masks=Untouchable("masks"), detections=Untouchable("detections"), jobs=jobs,  # type: ignore[arg-type]
                programs=Untouchable("programs"), program_files=Untouchable("program_files"))  # type: ignore[arg-type]
    create_app(settings, deps)
    return deps.bus.broker


async def test_a_submission_waits_for_the_competition_version_it_names(jobs: RecordedJobs) -> None:
    """Accepted under version 2 (which added the task) while the scorer still holds version 1: the job waits for
    version 2 and is scored under it, never refused under the older one."""
    competition = WatchedCompetition(fakes.version(1, WITHOUT_RECONSTRUCTION))
    event = fakes.received("reconstruction", "cpu", "41", ".zip", competition_version=2)
    async with TestNatsBroker(broker_following(competition, jobs)) as broker:
        publishing = asyncio.create_task(broker.publish(codec.encode(event), event.subject(), stream=SUBMISSIONS.name))
        async with asyncio.timeout(30):  # a scorer that does not wait would fail the job instead: never set
            await competition.waiting.wait()
        assert (competition.asked, jobs.runs, jobs.failures) == ([2], [], [])
        assert competition.offer(fakes.version(2))
        await publishing
    assert [run_event for run_event, _ in jobs.runs] == [event]
    assert (jobs.failures, jobs.retries) == ([], [])


async def test_a_version_that_does_not_come_hands_the_job_back(jobs: RecordedJobs) -> None:
    """Not the participant's fault: no ScoreFailed, the job goes back to JetStream (a Nak) to be tried again."""
    competition = WatchedCompetition(fakes.version(1, WITHOUT_RECONSTRUCTION), gives_up=True)
    event = fakes.received("reconstruction", "cpu", "41", ".zip", competition_version=2)
    async with TestNatsBroker(broker_following(competition, jobs)) as broker:
        await broker.publish(codec.encode(event), event.subject(), stream=SUBMISSIONS.name)
    assert jobs.retries == [(event, "competition version 2 has not reached this scorer yet")]
    assert (jobs.runs, jobs.failures) == ([], [])


async def test_an_event_naming_no_version_still_needs_a_competition(jobs: RecordedJobs) -> None:
    """An event from before versions were named (0) on a scorer that has read no competition yet is handed back,
    not refused as an unknown task."""
    competition = WatchedCompetition(EMPTY, gives_up=True)
    event = fakes.received("reconstruction", "cpu", "41", ".zip", competition_version=0)
    async with TestNatsBroker(broker_following(competition, jobs)) as broker:
        await broker.publish(codec.encode(event), event.subject(), stream=SUBMISSIONS.name)
    assert (competition.asked, len(jobs.retries), jobs.failures) == ([1], 1, [])


async def test_an_archived_task_still_scores_what_was_queued(jobs: RecordedJobs) -> None:
    archived = msgspec.structs.replace(COMPETITION, tasks=tuple(
        msgspec.structs.replace(task, archived=True) for task in COMPETITION.tasks))
    event = received("reconstruction")
    async with TestNatsBroker(broker_following(fakes.current_competition(archived), jobs)) as broker:
        await broker.publish(codec.encode(event), event.subject(), stream=SUBMISSIONS.name)
    assert ([run_event for run_event, _ in jobs.runs], jobs.failures) == ([event], [])
