"""What every scorer does around its own computation (DESIGN.md, "Scoring is one kit"): find the task a submission
names under the competition version it names (or a newer one), pick the task's format, read and verify the
submission's bytes, run the format's scoring as one job (`podium_runtime.jobs`), write the score's details and
build the ScoreComputed. A scorer keeps only what is its own: one `Format` per format it takes, whose `score`
turns the submission's bytes into a `Scored`, its CPU work off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, NoReturn, Protocol, TypeVar

from faststream import Context
from faststream.asgi import AsgiFastStream
from faststream.exceptions import RejectMessage
from faststream.nats import NatsBroker, NatsMessage, NatsRouter
from minio import Minio

from podium_runtime.competition import CATCH_UP_S, CurrentCompetition
from podium_runtime.connections import read_bytes
from podium_runtime.consumers import durable_subscriber
from podium_runtime.jobs import JobReporter, verify_digest
from podium_runtime.scoring.refusals import SubmissionRefused
from podium_runtime.service import Bus, ServiceSpec, Wired, Wiring, create_bus, create_service_app
from podium_runtime.settings import ServiceSettings
from proto.competition import Task, TaskKind
from proto.events import JobLogged, ScoreComputed, ScoreFailed, ScoreProgress, SubmissionReceived
from proto.storage import DETAILS_BUCKET, SUBMISSIONS_BUCKET
from proto.streams import ConsumerSpec

__all__ = ["DETAILS_BUCKET", "PROGRAM", "SUBMISSIONS_BUCKET", "Format", "Scored", "Scorer", "TakesTask", "Timings",
           "create_scorer_app", "every_task"]

log = logging.getLogger(__name__)

# The key of a scorer's `formats` that scores every task whose columns a host's program computes.
PROGRAM = "program"


class Timings(dict[str, float]):
    """Milliseconds each step of a job took, by step, in the order the steps ran."""

    @contextlib.contextmanager
    def step(self, name: str) -> Generator[None]:
        clock = time.perf_counter()
        yield
        self[name] = (time.perf_counter() - clock) * 1000


@dataclass(frozen=True)
class Scored:
    """What a format's scoring says of one submission: every column of the task (`Task.columns`, by header) on the
    public and the private split (a split left empty by the task reports the other's value: `both_splits`), the
    metrics and details it adds of its own, and how long its steps took. The kit adds each column that is not
    hidden to the metrics and the details (`<header>_public`, `<header>_private`): a format never names a column's
    value there itself, so a hidden column's stays in the score event's columns, which only the leaderboard and
    admins read."""

    public_columns: Mapping[str, float]
    private_columns: Mapping[str, float]
    metrics: dict[str, float]
    details: dict[str, Any]
    timings: Mapping[str, float] = field(default_factory=dict[str, float])

    @classmethod
    def one_column(cls, task: Task, public: float, private: float, *, metrics: dict[str, float],
                   details: dict[str, Any], timings: Mapping[str, float] | None = None) -> Scored:
        """The score of a format that computes its task's one column (tensors: psnr; onnx: accuracy)."""
        header = task.primary_column.header
        return cls({header: public}, {header: private}, metrics, details, dict(timings or {}))


def both_splits(public: float | None, private: float | None) -> tuple[float, float]:
    """Public and private values; a task whose split leaves one side empty (None) reports the other for both."""
    public, private = (public if public is not None else private), (private if private is not None else public)
    if public is None or private is None:
        raise ValueError("a task scores at least one sample")
    return public, private


def shown_columns(task: Task, public: Mapping[str, float], private: Mapping[str, float]) -> dict[str, float]:
    """Each column a team may see (not hidden) as `<header>_public` and `<header>_private`, the primary first:
    the keys of the score's metrics and details (a team's view leaves out every key naming the private split,
    `submission_service.visibility`)."""
    return {f"{column.header}_{split}": values[column.header] for column in task.columns if not column.hidden
            for split, values in (("public", public), ("private", private))}


ScoreFunction = Callable[[Task, SubmissionReceived, bytes], Awaitable[Scored]]
# Whether a scorer process takes a job for `task` (None: a task the competition does not have): a job it does not
# take is another process's, on a durable consumer of its own (cpu_scorer's roles, `cpu_scorer.roles`).
TakesTask = Callable[[Task | None], bool]


def every_task(_task: Task | None) -> bool:
    return True



def _refused_by_default() -> Mapping[type[Exception], str]:
    return {SubmissionRefused: "submission_refused"}


@dataclass(frozen=True)
class Format:
    """One format a scorer takes: how a submission of it is scored, and which of the errors that scoring raises are
    the participant's (each with the short label the failure metrics count it by; the job ends with a ScoreFailed
    carrying the error's text, never retried). Any other error is the platform's: the job is retried."""

    score: ScoreFunction
    refusals: Mapping[type[Exception], str] = field(default_factory=_refused_by_default)
    # How a stored submission over the task's size limit is refused: the refusal, and what the file is called.
    refusal: Callable[[str], Exception] = SubmissionRefused
    file: str = "file"

    def too_large(self, limit: int) -> Exception:
        return self.refusal(f"the {self.file} is larger than the task's limit of {limit} bytes")


def read_submission(s3: Minio, key: str, max_bytes: int) -> bytes:
    """The submission's bytes, at most `max_bytes` + 1 of them: one byte more than the limit says it is over it
    (uploads are held to the limit, a host may have lowered it since)."""
    return read_bytes(s3, SUBMISSIONS_BUCKET, key, max_bytes + 1)


def details_key(task: Task, event: SubmissionReceived) -> str:
    """Where a score's details lie in DETAILS_BUCKET: one object per submission and scorer version."""
    return f"{task.id}/{event.submission_id}/{event.scorer_version}.json"


def write_details(s3: Minio, key: str, details: Mapping[str, Any]) -> None:
    data = json.dumps(details).encode()
    s3.put_object(DETAILS_BUCKET, key, io.BytesIO(data), len(data), content_type="application/json")


@dataclass(kw_only=True)
class Scorer:
    """A scorer's jobs: one SubmissionReceived at a time, scored under the competition version it names (or a newer
    one) by the format of its task. A version not here yet is the platform's (the job goes back to JetStream); a
    task that is not this scorer's kind, or a format it does not take, is refused with a reason the participant
    reads. A job for a task the process does not `take` is acknowledged as it is, scored by the process that takes it.
    A subclass names its `kind` and gives its `formats`, the registry `Task.effective_format` picks from (a program
    task's is PROGRAM's, `format_for`)."""

    kind: ClassVar[TaskKind]
    # How a task this scorer takes is named to a participant whose submission it is not ("a CPU task").
    tasks_named: ClassVar[str]

    competition: CurrentCompetition
    broker: NatsBroker
    s3: Minio
    jobs: JobReporter
    # How long a submission naming a competition version this scorer has not seen yet waits for it.
    catch_up_s: float = CATCH_UP_S
    # The jobs this process scores (or refuses); any other is acknowledged without an event: another process's.
    takes: TakesTask = every_task

    @property
    def formats(self) -> Mapping[str, Format]:
        raise NotImplementedError

    def format_for(self, task: Task) -> Format | None:
        """How the task's submissions are scored: by the host's program (the `program` Format) whatever the task's
        format when its columns are the program's (`metric = "program"`), else by its format's own."""
        return self.formats.get(PROGRAM if task.uses_program else task.effective_format)

    async def score(self, event: SubmissionReceived, message: NatsMessage) -> None:
        # Version 1 at least: an event from before versions were named still needs some competition.
        needed = max(event.competition_version, 1)
        if not await self.competition.at_least(needed, self.catch_up_s):
            raise self.jobs.retry_later(event, message, f"competition version {needed} has not reached this "
                                                        "scorer yet")
        version = self.competition.version  # one version for the whole job: its task and what the score records
        task = version.competition.task(event.task_id)
        if not self.takes(task):
            log.debug("left to the other pool", extra={"submission_id": event.submission_id, "task_id": event.task_id})
            return  # acknowledged: the pool that takes this task scores it from its own durable consumer
        if task is None or task.kind != self.kind:
            await self._refuse(event, f"task {event.task_id!r} is not {self.tasks_named} of this competition",
                               "unknown_task")
        submission_format = self.format_for(task)
        if submission_format is None:
            takes = "a host's program" if task.uses_program else f"{task.effective_format} submissions"
            verb = "run" if task.uses_program else "score"
            await self._refuse(event, f"task {task.id!r} takes {takes}, which this scorer cannot {verb}; tell the "
                                      "host", "unknown_format")
        # An archived task takes no new submissions, but what was accepted before is still scored.
        await self.jobs.run(event, message, lambda: self._score(task, submission_format, version.version, event),
                            submission_format.refusals)

    async def _refuse(self, event: SubmissionReceived, reason: str, code: str) -> NoReturn:
        await self.jobs.fail(event, reason, code=code)
        raise RejectMessage()

    async def _score(self, task: Task, submission_format: Format, competition_version: int,
                     event: SubmissionReceived) -> ScoreComputed:
        timings = Timings()
        with timings.step("download"):
            data = await asyncio.to_thread(read_submission, self.s3, event.object_key, task.max_upload_bytes)
        if len(data) > task.max_upload_bytes:
            raise submission_format.too_large(task.max_upload_bytes)
        await asyncio.to_thread(verify_digest, event, data)
        scored = await submission_format.score(task, event, data)
        headers = [column.header for column in task.columns]
        if sorted(scored.public_columns) != sorted(headers) or sorted(scored.private_columns) != sorted(headers):
            raise RuntimeError(f"the {task.effective_format} format scored columns {sorted(scored.public_columns)} "
                               f"and {sorted(scored.private_columns)}, not the task's {headers}")
        columns = shown_columns(task, scored.public_columns, scored.private_columns)
        key = details_key(task, event)
        # The columns' values come last: a column a host names like one of the format's own keys keeps its value.
        details = {"submission_id": event.submission_id, "task_id": task.id, "scorer_version": event.scorer_version,
                   "primary": task.primary_column.header, **scored.details, **columns}
        await asyncio.to_thread(write_details, self.s3, key, details)
        primary = task.primary_column.header
        return ScoreComputed(
            submission_id=event.submission_id, team_id=event.team_id, task_id=task.id,
            scorer_version=event.scorer_version, public_score=scored.public_columns[primary],
            private_score=scored.private_columns[primary], submitted_at=event.submitted_at, phase_id=event.phase_id,
            correlation_id=event.correlation_id, metrics={**scored.metrics, **columns}, details_key=key,
            archive_sha256=event.sha256, ground_truth_sha256=task.ground_truth_sha256,
            durations_ms={**timings, **scored.timings}, competition_version=competition_version,
            identity=task.scorer_version, public_columns=dict(scored.public_columns),
            private_columns=dict(scored.private_columns),
        )


def scorer_router(consumer: ConsumerSpec) -> NatsRouter:
    """The durable consumer of a scorer's submissions; the scorer arrives through FastStream's context (`wire`)."""
    router = NatsRouter()

    @durable_subscriber(router, consumer)
    async def score_submission(event: SubmissionReceived, message: NatsMessage,
                               scorer: Annotated[Scorer, Context("scorer")]) -> None:
        await scorer.score(event, message)

    return router


def scorer_wired(scorer: Scorer) -> Wired:
    return Wired(context={"scorer": scorer}, s3=scorer.s3)


class ScorerDeps(Protocol):
    @property
    def bus(self) -> Bus: ...


S = TypeVar("S", bound=ServiceSettings)
D = TypeVar("D", bound=ScorerDeps)


def create_scorer_app(name: str, consumer: ConsumerSpec, settings: S,
                      bootstrap: Callable[[S, Bus], contextlib.AbstractAsyncContextManager[D]],
                      wire: Callable[[D], Wired], deps: D | None = None) -> AsgiFastStream:
    """A scorer's app: its durable consumer `consumer` and the events a scorer publishes, wired by `wire` from the
    Deps that `bootstrap` opens (or the ready-made `deps`)."""
    spec = ServiceSpec(name=name, routers=(scorer_router(consumer),),
                       publishes=(ScoreComputed, ScoreFailed, ScoreProgress, JobLogged), consumers=(consumer,))
    bus = deps.bus if deps is not None else create_bus(name, settings)
    return create_service_app(spec, settings, Wiring(
        bus=bus, bootstrap=lambda bus: bootstrap(settings, bus), wire=wire, deps=deps))
