"""The live pushes about the competition itself, to every socket: `competition` when a new version is in use (with
the ids of the tasks it added, changed or removed) and `phase` when a task's phase opens or closes.

The phase clock waits until the next phase boundary of the competition in use and starts its wait again whenever a
new version comes, so a moved deadline moves its push with it. Its clock is injected (`now`, `sleep`): a test drives
it through any boundary without waiting."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal

from podium_runtime.competition import CurrentCompetition
from proto.competition import Competition, CompetitionVersion
from proto.live import CompetitionMessage, LiveMessage, PhaseMessage

# The wall clock may jump (a suspended machine, a corrected clock) while asyncio's monotonic clock does not: the
# clock looks at the time again at least this often, whatever the next boundary.
MAX_WAIT_S = 300.0

Now = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
Push = Callable[[LiveMessage], None]
PhaseState = Literal["opened", "closed"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def changed_tasks(previous: Competition, current: Competition) -> list[str]:
    """The ids of the tasks `current` added or changed (in its order), then those it removed (in `previous`'s)."""
    before = {task.id: task for task in previous.tasks}
    kept = {task.id for task in current.tasks}
    return ([task.id for task in current.tasks if before.get(task.id) != task]
            + [task.id for task in previous.tasks if task.id not in kept])


def phase_changes(competition: Competition, since: datetime, until: datetime) -> list[PhaseMessage]:
    """What opened and closed after `since`, up to and including `until`, in time order (a phase that closes at the
    moment the next opens is closed first). An archived task takes no submissions: its phases say nothing."""
    crossed: list[tuple[datetime, bool, PhaseMessage]] = []
    for task in competition.tasks:
        if task.archived:
            continue
        for phase in task.phases:
            boundaries: tuple[tuple[datetime, PhaseState], ...] = ((phase.opens_at, "opened"),
                                                                   (phase.closes_at, "closed"))
            for moment, state in boundaries:
                if since < moment <= until:
                    crossed.append((moment, state == "opened",
                                    PhaseMessage(task_id=task.id, phase_id=phase.id, state=state)))
    crossed.sort(key=lambda item: item[:2])
    return [message for *_, message in crossed]


def next_boundary(competition: Competition, after: datetime) -> datetime | None:
    """The first moment after `after` at which a phase of a task that is not archived opens or closes."""
    return min((moment for task in competition.tasks if not task.archived for phase in task.phases
                for moment in (phase.opens_at, phase.closes_at) if moment > after), default=None)


class PhaseClock:
    """Pushes `phase` messages as the competition's phases open and close, for as long as `run` runs."""

    def __init__(self, competition: Callable[[], Competition], push: Push, *, now: Now = utc_now,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.competition = competition
        self.push = push
        self.now = now
        self.sleep = sleep
        self._changed = asyncio.Event()

    def competition_changed(self) -> None:
        """A new version is in use: wait for its next boundary instead."""
        self._changed.set()

    async def run(self) -> None:
        since = self.now()
        while True:
            self._changed.clear()  # before reading the competition: a version offered from here on wakes the wait
            upcoming = next_boundary(self.competition(), since)
            wait = MAX_WAIT_S if upcoming is None else (upcoming - self.now()).total_seconds()
            await self._wait(min(MAX_WAIT_S, max(0.0, wait)))
            moment = self.now()
            for message in phase_changes(self.competition(), since, moment):
                self.push(message)
            since = max(since, moment)

    async def _wait(self, seconds: float) -> None:
        """Until `seconds` have passed or the competition changed, whichever comes first."""
        sleeping = asyncio.ensure_future(self.sleep(seconds))
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({sleeping, changed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in (sleeping, changed):
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting


async def push_competition_changes(current: CurrentCompetition, push: Push, *, now: Now = utc_now,
                                   sleep: Sleep = asyncio.sleep) -> None:
    """Push each new version in use (`competition`) and each phase opening or closing (`phase`) until cancelled."""
    clock = PhaseClock(lambda: current.current, push, now=now, sleep=sleep)

    def on_version(previous: CompetitionVersion, version: CompetitionVersion) -> None:
        push(CompetitionMessage(version=version.version,
                                tasks=changed_tasks(previous.competition, version.competition)))
        clock.competition_changed()

    current.listeners.append(on_version)
    try:
        await clock.run()
    finally:
        current.listeners.remove(on_version)
