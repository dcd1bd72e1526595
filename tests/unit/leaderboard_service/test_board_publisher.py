"""The stream's events publish a task's board through `BoardPublisher.publish_soon`: at once when the task is idle,
and the events applied while a board is being computed share one more computation (of the newest definition), so a
busy task's board is not recomputed — every score of the task read again — for each of its events. A computation
that fails is logged and the next one still runs."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from leaderboard_service.handlers import BoardPublisher
from proto.competition import Task
from tests.unit.fakes import COMPETITION

TASK = COMPETITION.tasks[0]


class HeldPublisher(BoardPublisher):
    """Records each computation's task title; the first waits until the test lets it finish."""

    def __init__(self, fail_first: bool = False) -> None:
        super().__init__(pool=None, kv=None, broker=None, min_interval_s=0)  # type: ignore[arg-type]
        self.computed: list[str] = []
        self.started, self.release = asyncio.Event(), asyncio.Event()
        self.fail_first = fail_first

    async def publish(self, task: Task) -> None:
        self.computed.append(task.title)
        if len(self.computed) == 1:
            self.started.set()
            await self.release.wait()
            if self.fail_first:
                raise OSError("the bucket is away")


def titled(title: str) -> Task:
    return msgspec.structs.replace(TASK, title=title)


async def idle(publisher: BoardPublisher) -> None:
    async with asyncio.timeout(30):
        while not publisher.idle:  # the runner ends once nothing is due
            await asyncio.sleep(0)


async def test_events_during_a_computation_share_the_next_one_with_the_newest_definition() -> None:
    publisher = HeldPublisher()
    await publisher.publish_soon(titled("first"))
    await publisher.started.wait()  # computed at once: the task was idle
    for n in range(5):
        await publisher.publish_soon(titled(f"event {n}"))
    publisher.release.set()
    await idle(publisher)
    assert publisher.computed == ["first", "event 4"]

    await publisher.publish_soon(titled("later"))  # idle again: at once
    await idle(publisher)
    assert publisher.computed == ["first", "event 4", "later"]


async def test_a_failed_computation_is_logged_and_the_next_still_runs(caplog: pytest.LogCaptureFixture) -> None:
    publisher = HeldPublisher(fail_first=True)
    await publisher.publish_soon(titled("first"))
    await publisher.started.wait()
    await publisher.publish_soon(titled("second"))
    publisher.release.set()
    await idle(publisher)
    assert publisher.computed == ["first", "second"]
    assert "a board was not published" in caplog.text
