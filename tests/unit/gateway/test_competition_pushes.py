"""The competition's own live pushes (`gateway.competition_pushes`): which tasks a new version changed, which phases
opened and closed between two moments, and the phase clock driven through its boundaries by an injected clock that
never waits — a new version moves its next wake-up, an archived task says nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from gateway.competition_pushes import (
    MAX_WAIT_S,
    changed_tasks,
    next_boundary,
    phase_changes,
    push_competition_changes,
)
from podium_runtime.competition import CurrentCompetition
from proto.competition import Competition, CompetitionVersion, Phase, Task
from proto.live import CompetitionMessage, LiveMessage, PhaseMessage

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def task(task_id: str, *phases: tuple[str, float, float], **fields: object) -> Task:
    return Task(id=task_id, title=task_id, kind="cpu", metric="psnr", shape=(1,),
                phases=tuple(Phase(id=name, opens_at=at(start), closes_at=at(end)) for name, start, end in phases),
                **fields)  # type: ignore[arg-type]


def version(number: int, *tasks: Task) -> CompetitionVersion:
    return CompetitionVersion(version=number, competition=Competition(tasks=tasks), created_at=T0, created_by="admin")


def opened(task_id: str, phase_id: str) -> PhaseMessage:
    return PhaseMessage(task_id=task_id, phase_id=phase_id, state="opened")


def closed(task_id: str, phase_id: str) -> PhaseMessage:
    return PhaseMessage(task_id=task_id, phase_id=phase_id, state="closed")


class FakeClock:
    """A wall clock that moves only when the test says: `sleep` records how long it was asked to wait and returns
    once the test has moved the time that far (or the sleeper was cancelled)."""

    def __init__(self, start: datetime) -> None:
        self.moment = start
        self.asked: list[float] = []
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []
        self._asleep = asyncio.Event()
        self._seen = 0  # sleeps already looked at by `asleep`

    def now(self) -> datetime:
        return self.moment

    async def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.moment + timedelta(seconds=seconds), woken))
        self._asleep.set()
        try:
            await woken
        finally:
            self._sleepers = [(due, f) for due, f in self._sleepers if f is not woken]

    async def asleep(self) -> float:
        """Wait for the next time the code under test goes to sleep; how long it asked to sleep."""
        async with asyncio.timeout(5):
            while len(self.asked) <= self._seen:
                self._asleep.clear()
                await self._asleep.wait()
        self._seen = len(self.asked)
        return self.asked[-1]

    async def advance_to(self, moment: datetime) -> None:
        self.moment = moment
        for due, woken in list(self._sleepers):
            if due <= moment and not woken.done():
                woken.set_result(None)
        await asyncio.sleep(0)  # the woken sleeper returns before the test looks again


def test_changed_tasks_are_the_added_changed_and_removed_ones_and_no_other() -> None:
    a, b, c = task("a", ("main", 0, 10)), task("b"), task("c")
    moved = msgspec.structs.replace(a, daily_quota=9)
    new = task("new")
    assert changed_tasks(Competition(tasks=(a, b, c)), Competition(tasks=(moved, b, new))) == ["a", "new", "c"]
    assert changed_tasks(Competition(tasks=(a, b)), Competition(tasks=(a, b))) == []


def test_phase_changes_are_in_time_order_with_a_close_before_an_open_at_the_same_moment() -> None:
    competition = Competition(tasks=(task("a", ("one", 10, 20), ("two", 20, 30)), task("b", ("main", 5, 25)),
                                     task("old", ("main", 10, 20), archived=True)))
    assert phase_changes(competition, at(0), at(20)) == [opened("b", "main"), opened("a", "one"),
                                                         closed("a", "one"), opened("a", "two")]
    # After `since`, up to and including `until`: a boundary is said once when the moments follow one another.
    assert phase_changes(competition, at(20), at(30)) == [closed("b", "main"), closed("a", "two")]
    assert next_boundary(competition, at(20)) == at(25)
    assert next_boundary(competition, at(30)) is None


@pytest.fixture
async def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def running(clock: FakeClock) -> AsyncIterator[tuple[CurrentCompetition, list[LiveMessage]]]:
    """The competition's pushes running on the fake clock, from version 1: a task with two phases."""
    current = CurrentCompetition(version(1, task("recon", ("warmup", 10, 60), ("final", 60, 120))))
    pushed: list[LiveMessage] = []
    pushes = asyncio.create_task(push_competition_changes(current, pushed.append, now=clock.now, sleep=clock.sleep))
    yield current, pushed
    pushes.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pushes
    assert current.listeners == []  # the listener leaves with the pushes


async def test_the_phase_clock_sleeps_until_each_boundary_and_pushes_what_opened_and_closed(
    clock: FakeClock, running: tuple[CurrentCompetition, list[LiveMessage]],
) -> None:
    _, pushed = running
    assert await clock.asleep() == 10
    await clock.advance_to(at(9))  # not yet: nothing pushed, the clock keeps sleeping
    assert pushed == []
    await clock.advance_to(at(10))
    assert await clock.asleep() == 50
    assert pushed == [opened("recon", "warmup")]
    await clock.advance_to(at(60))
    assert await clock.asleep() == 60
    assert pushed[1:] == [closed("recon", "warmup"), opened("recon", "final")]
    await clock.advance_to(at(500))  # long past the last boundary: said once, then only the periodic look
    assert await clock.asleep() == MAX_WAIT_S
    assert pushed[3:] == [closed("recon", "final")]


async def test_a_new_version_is_pushed_with_its_changed_tasks_and_moves_the_next_wake_up(
    clock: FakeClock, running: tuple[CurrentCompetition, list[LiveMessage]],
) -> None:
    current, pushed = running
    assert await clock.asleep() == 10
    # The host moves the warm-up's opening earlier and adds a task that opens sooner still.
    assert current.offer(version(2, task("recon", ("warmup", 4, 60), ("final", 60, 120)),
                                 task("extra", ("main", 2, 8))))
    assert pushed == [CompetitionMessage(version=2, tasks=["recon", "extra"])]
    assert await clock.asleep() == 2
    await clock.advance_to(at(2))
    assert await clock.asleep() == 2
    await clock.advance_to(at(4))
    assert await clock.asleep() == 4
    assert pushed[1:] == [opened("extra", "main"), opened("recon", "warmup")]

    # Archiving a task silences its phases; a deadline moved into the past is said as it is taken.
    assert current.offer(version(3, task("recon", ("warmup", 4, 5), ("final", 60, 120)),
                                 task("extra", ("main", 2, 8), archived=True)))
    assert await clock.asleep() == 1  # from now (4 s) until the moved close
    await clock.advance_to(at(6))
    assert await clock.asleep() == 54
    assert pushed[3:] == [CompetitionMessage(version=3, tasks=["recon", "extra"]), closed("recon", "warmup")]
    assert not current.offer(version(2))  # an older version is not taken, and nothing is pushed
    assert len(pushed) == 5
