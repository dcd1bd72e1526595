"""Stand-ins a handler unit test passes in a service's Deps (`podium_runtime.service`): the shipped competition (and
a `CurrentCompetition` holding it, as the `competition` bucket would), a submission as the scorers receive it, a
dependency the path under test must not touch, and a scorer's job reporter that records what the handler asked of
it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faststream.exceptions import NackMessage
from faststream.nats import NatsMessage

from podium_runtime.competition import CurrentCompetition
from proto.competition import Competition, CompetitionVersion, parse_competition
from proto.events import ScoreComputed, SubmissionReceived

COMPETITION_FILE = Path(__file__).resolve().parents[2] / "deploy" / "competition.toml"
COMPETITION = parse_competition(COMPETITION_FILE.read_bytes())


def version(number: int, competition: Competition = COMPETITION) -> CompetitionVersion:
    return CompetitionVersion(version=number, competition=competition, created_at=datetime(2026, 1, 1, tzinfo=UTC),
                              created_by="host")


def current_competition(competition: Competition = COMPETITION, number: int = 1) -> CurrentCompetition:
    """What a service follows, holding `competition` as version `number` (as if read from the bucket)."""
    current = CurrentCompetition(version(number, competition))
    current.loaded.set()
    return current


class WatchedCompetition(CurrentCompetition):
    """A CurrentCompetition that says when a handler starts waiting for a version (`waiting`, with the versions
    asked for in `asked`); with `gives_up`, the wait ends at once unanswered, as when the bucket never brings it."""

    def __init__(self, initial: CompetitionVersion, *, gives_up: bool = False) -> None:
        super().__init__(initial)
        self.loaded.set()
        self.gives_up = gives_up
        self.asked: list[int] = []
        self.waiting = asyncio.Event()

    async def at_least(self, version: int, timeout_s: float = 10.0) -> bool:
        self.asked.append(version)
        self.waiting.set()
        return await super().at_least(version, 0 if self.gives_up else timeout_s)


def received(task_id: str, kind: str, submission_id: str, suffix: str, competition_version: int = 1
             ) -> SubmissionReceived:
    """A submission of team 7 to `task_id` as its scorer receives it (the object itself is never read), accepted
    under `competition_version`."""
    return SubmissionReceived(
        submission_id=submission_id, team_id="7", task_id=task_id, kind=kind,  # type: ignore[arg-type]
        object_key=f"{task_id}/{submission_id}{suffix}", sha256="0" * 64, size_bytes=10,
        submitted_at=datetime(2026, 1, 2, tzinfo=UTC), scorer_version="v1", competition_version=competition_version)


class Untouchable:
    """A dependency the code under test must not use: any attribute read fails the test, naming it."""

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"the handler used {self._name}.{attribute}")


@dataclass
class RecordedJobs:
    """A JobReporter that records the jobs it was asked to run, the failures it was asked to publish and the jobs it
    was asked to hand back for later (each with its reason)."""

    runs: list[tuple[SubmissionReceived, Mapping[type[Exception], str]]] = field(default_factory=list)
    failures: list[tuple[SubmissionReceived, str, str]] = field(default_factory=list)
    retries: list[tuple[SubmissionReceived, str]] = field(default_factory=list)

    async def run(self, event: SubmissionReceived, message: NatsMessage,
                  compute: Callable[[], Awaitable[ScoreComputed]], refusals: Mapping[type[Exception], str]) -> None:
        self.runs.append((event, refusals))

    async def fail(self, event: SubmissionReceived, reason: str, *, code: str, **_: Any) -> None:
        self.failures.append((event, reason, code))

    def retry_later(self, event: SubmissionReceived, message: NatsMessage, reason: str) -> NackMessage:
        self.retries.append((event, reason))
        return NackMessage()


@dataclass
class ComputingJobs(RecordedJobs):
    """A JobReporter without the bus: it runs each job's computation and records its outcome or its exception."""

    outcomes: list[ScoreComputed] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)

    async def run(self, event: SubmissionReceived, message: NatsMessage,
                  compute: Callable[[], Awaitable[ScoreComputed]], refusals: Mapping[type[Exception], str]) -> None:
        self.runs.append((event, refusals))
        try:
            self.outcomes.append(await compute())
        except Exception as exc:  # what JobReporter.run would turn into a ScoreFailed (refusals) or a Nak
            self.errors.append(exc)

    def log(self, event: SubmissionReceived, line: str, level: str = "info") -> None:
        pass

    def progress(self, event: SubmissionReceived) -> Callable[[int, int], None]:
        return lambda done, total: None
