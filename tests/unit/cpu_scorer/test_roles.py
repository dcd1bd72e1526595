"""cpu_scorer's roles (PODIUM_CPU_SCORER_ROLE): which tasks each one takes, from which durable consumer, and what its
handler does with the others (in memory, FastStream's TestNatsBroker): `all` scores every CPU task, `metrics` every one
but the programs', `programs` (the Helm chart's program pool) the programs' only; a job the role does not take is
acknowledged without any event, and exactly one side refuses a job for a task the competition does not have. The two
pools against real servers: tests/system/test_program_pool.py."""

from __future__ import annotations

import msgspec
import pytest
from faststream.nats import TestNatsBroker
from nats.js.api import DeliverPolicy
from pydantic import ValidationError

from cpu_scorer.app import create_app
from cpu_scorer.bootstrap import CpuScorerSettings, Deps
from cpu_scorer.roles import CONSUMERS, TAKES, Role
from podium_runtime.consumers import consumer_config
from podium_runtime.service import create_bus
from proto import codec
from proto.competition import MetricColumn, Task
from proto.events import SubmissionReceived
from proto.streams import CPU_SCORER, PROGRAM_POOL, SUBMISSIONS
from tests.unit import fakes
from tests.unit.fakes import COMPETITION, RecordedJobs, Untouchable

PROGRAM_TASK = Task(id="ranked", title="Ranked by the host's program", kind="cpu", format="csv", metric="program",
                    metrics=(MetricColumn(name="program", column="Spearman", primary=True),))
WITH_A_PROGRAM = msgspec.structs.replace(COMPETITION, tasks=(*COMPETITION.tasks, PROGRAM_TASK))
METRIC_TASK = COMPETITION.task("reconstruction")
assert METRIC_TASK is not None and not METRIC_TASK.uses_program


@pytest.mark.parametrize(("role", "metric_task", "program_task", "unknown_task"), [
    ("all", True, True, True),
    ("metrics", True, False, True),
    ("programs", False, True, False),
])
def test_each_role_takes_its_tasks(role: Role, metric_task: bool, program_task: bool, unknown_task: bool) -> None:
    takes = TAKES[role]
    assert (takes(METRIC_TASK), takes(PROGRAM_TASK), takes(None)) == (metric_task, program_task, unknown_task)


def test_two_pools_beside_each_other_take_every_task_exactly_once() -> None:
    for task in (METRIC_TASK, PROGRAM_TASK, None):
        assert [TAKES["metrics"](task), TAKES["programs"](task)].count(True) == 1, task


# --- settings and consumers ----------------------------------------------------------------------------------------

def test_the_role_comes_from_its_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PODIUM_CPU_SCORER_ROLE", raising=False)
    monkeypatch.setenv("PODIUM_ROLE", "programs")  # a bare name some other tool might set is not the scorer's
    assert CpuScorerSettings().role == "all"
    monkeypatch.setenv("PODIUM_CPU_SCORER_ROLE", "programs")
    assert CpuScorerSettings().role == "programs"


@pytest.mark.parametrize("value", ["program", "PROGRAMS ", "", "gpu"])
def test_a_bad_role_stops_the_scorer_at_start_naming_the_variable_and_the_roles(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PODIUM_CPU_SCORER_ROLE", value)
    with pytest.raises(ValidationError) as refused:
        CpuScorerSettings()
    message = str(refused.value)
    assert "PODIUM_CPU_SCORER_ROLE" in message and "'all', 'metrics' or 'programs'" in message, message


def test_the_program_pool_reads_the_cpu_submissions_from_a_durable_of_its_own() -> None:
    assert (CONSUMERS["all"], CONSUMERS["metrics"], CONSUMERS["programs"]) == (CPU_SCORER, CPU_SCORER, PROGRAM_POOL)
    assert PROGRAM_POOL.durable != CPU_SCORER.durable
    assert (PROGRAM_POOL.stream, PROGRAM_POOL.filter_subject) == (CPU_SCORER.stream, CPU_SCORER.filter_subject)
    # The same jobs, kept alive and retried alike.
    assert (PROGRAM_POOL.ack_wait_s, PROGRAM_POOL.max_deliver, PROGRAM_POOL.retry_delays_s) == (
        CPU_SCORER.ack_wait_s, CPU_SCORER.max_deliver, CPU_SCORER.retry_delays_s)


def test_a_new_program_pool_starts_at_the_next_submission_and_the_cpu_scorer_at_the_first() -> None:
    """A host enabling the pool on a platform with a history must not have every past program submission scored
    again; a cpu_scorer's first start scores what was submitted before it."""
    assert consumer_config(PROGRAM_POOL).deliver_policy == DeliverPolicy.NEW
    assert consumer_config(CPU_SCORER).deliver_policy == DeliverPolicy.ALL


# --- the handler of each role --------------------------------------------------------------------------------------

async def handled(role: Role, events: list[SubmissionReceived]) -> RecordedJobs:
    """`events` published to a cpu_scorer of `role` (the competition has a program task): what it asked of its jobs."""
    jobs = RecordedJobs()
    settings = CpuScorerSettings(PODIUM_CPU_SCORER_ROLE=role)
    deps = Deps(competition=fakes.current_competition(WITH_A_PROGRAM), bus=create_bus("cpu_scorer", settings),
                s3=Untouchable("s3"), ground_truth=Untouchable("ground_truth"),  # type: ignore[arg-type]
                solutions=Untouchable("solutions"), masks=Untouchable("masks"),  # type: ignore[arg-type]
                detections=Untouchable("detections"), jobs=jobs, programs=Untouchable("programs"),  # type: ignore[arg-type]
                program_files=Untouchable("program_files"))  # type: ignore[arg-type]
    create_app(settings, deps)
    async with TestNatsBroker(deps.bus.broker) as broker:
        for event in events:
            await broker.publish(codec.encode(event), event.subject(), stream=SUBMISSIONS.name)
    return jobs


METRIC_JOB = fakes.received("reconstruction", "cpu", "41", ".zip")
PROGRAM_JOB = fakes.received("ranked", "cpu", "42", ".csv")
UNKNOWN_JOB = fakes.received("no-such-task", "cpu", "43", ".zip")
UNKNOWN = (UNKNOWN_JOB, "task 'no-such-task' is not a CPU task of this competition", "unknown_task")


@pytest.mark.parametrize(("role", "scored", "refused"), [
    ("all", [METRIC_JOB, PROGRAM_JOB], [UNKNOWN]),
    ("metrics", [METRIC_JOB], [UNKNOWN]),
    ("programs", [PROGRAM_JOB], []),
])
async def test_a_role_scores_its_tasks_and_leaves_the_others_without_an_event(
        role: Role, scored: list[SubmissionReceived], refused: list[tuple[SubmissionReceived, str, str]]) -> None:
    jobs = await handled(role, [METRIC_JOB, PROGRAM_JOB, UNKNOWN_JOB])
    assert [event for event, _ in jobs.runs] == scored
    assert (jobs.failures, jobs.retries) == (refused, [])
