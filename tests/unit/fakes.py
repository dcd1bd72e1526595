"""Stand-ins a handler unit test passes in a service's Deps (`podium_runtime.service`): a dependency the path
under test must not touch, and a scorer's job reporter that records what the handler asked of it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from faststream.nats import NatsMessage

from proto.events import ScoreComputed, SubmissionReceived


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
