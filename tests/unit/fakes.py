"""Stand-ins a handler unit test passes in a service's Deps (`podium_runtime.service`): the shipped competition, a
submission as the scorers receive it, a dependency the path under test must not touch, and a scorer's job reporter
that records what the handler asked of it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faststream.nats import NatsMessage

from proto.competition import parse_competition
from proto.events import ScoreComputed, SubmissionReceived

COMPETITION_FILE = Path(__file__).resolve().parents[2] / "deploy" / "competition.toml"
COMPETITION = parse_competition(COMPETITION_FILE.read_bytes())


def received(task_id: str, kind: str, submission_id: str, suffix: str) -> SubmissionReceived:
    """A submission of team 7 to `task_id` as its scorer receives it (the object itself is never read)."""
    return SubmissionReceived(
        submission_id=submission_id, team_id="7", task_id=task_id, kind=kind,  # type: ignore[arg-type]
        object_key=f"{task_id}/{submission_id}{suffix}", sha256="0" * 64, size_bytes=10,
        submitted_at=datetime(2026, 1, 2, tzinfo=UTC), scorer_version="v1")


class Untouchable:
    """A dependency the code under test must not use: any attribute read fails the test, naming it."""

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"the handler used {self._name}.{attribute}")


@dataclass
class RecordedJobs:
    """A JobReporter that records the jobs it was asked to run and the failures it was asked to publish."""

    runs: list[tuple[SubmissionReceived, Mapping[type[Exception], str]]] = field(default_factory=list)
    failures: list[tuple[SubmissionReceived, str, str]] = field(default_factory=list)

    async def run(self, event: SubmissionReceived, message: NatsMessage,
                  compute: Callable[[], Awaitable[ScoreComputed]], refusals: Mapping[type[Exception], str]) -> None:
        self.runs.append((event, refusals))

    async def fail(self, event: SubmissionReceived, reason: str, *, code: str, **_: Any) -> None:
        self.failures.append((event, reason, code))
