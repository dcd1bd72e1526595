"""leaderboard_service's request/reply handlers in memory (FastStream's TestNatsBroker, no server), built from
the service's Deps: every refusal a caller can meet before the database is asked — wrong role, unknown task, a
malformed request — answers its status and a reason, and touches neither the database nor the boards; a rescore
that the store does not know answers 404. A new competition version publishes again the boards of the tasks it
redefined or added, and only those. The same operations run against real servers in
tests/service/leaderboard."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from faststream.nats import TestNatsBroker

from leaderboard_service.app import create_app
from leaderboard_service.bootstrap import Deps, LeaderboardServiceSettings
from leaderboard_service.handlers import LeaderboardHandlers
from podium_runtime.service import create_bus
from proto import leaderboard as ops
from proto.competition import Competition, CompetitionInfo, Phase, Task
from proto.rpc import Call, Operation, Principal, ServiceError
from tests.unit import fakes
from tests.unit.fakes import COMPETITION, Untouchable, current_competition

TEAM = Principal(account_id="7", name="team-7", role="team")
ADMIN = Principal(account_id="1", name="admin", role="admin")
WHEN = datetime(2026, 1, 2, tzinfo=UTC)


class NoRescores:
    """A pool whose one query (a rescore's report) finds nothing."""

    async def fetchrow(self, query: str, *args: Any) -> None:
        assert "FROM leaderboard.rescores" in query
        return None


def app_with(pool: object):  # noqa: ANN201
    settings = LeaderboardServiceSettings()
    deps = Deps(competition=current_competition(),
                bus=create_bus("leaderboard_service", settings), pool=pool, boards=Untouchable("boards"))  # type: ignore[arg-type]
    return create_app(settings, deps)


async def ask(app, operation: Operation, body: bytes) -> ServiceError:  # noqa: ANN001
    async with TestNatsBroker(app.broker) as broker:
        # In memory, but on a busy machine the first request may take longer than FastStream's default 0.5 s.
        reply = await broker.request(body, operation.subject, timeout=30)
    return msgspec.json.decode(reply.body, type=ServiceError)


REFUSALS = [
    (ops.SET_STANDING, Call(request=ops.SetStanding(team_id=8, hidden=True, disqualified=False), actor=TEAM),
     403, "Admin privileges required"),
    (ops.SET_REVEAL, Call(request=ops.SetReveal(task_id="reconstruction", revealed=True), actor=TEAM),
     403, "Admin privileges required"),
    (ops.SET_REVEAL, Call(request=ops.SetReveal(task_id="no-such-task", revealed=True), actor=ADMIN),
     404, "no task 'no-such-task'"),
    (ops.SELECT_FINALS, Call(request=ops.SelectFinals(task_id="reconstruction", submission_ids=[1]), actor=ADMIN),
     403, "final submissions are chosen by the team"),
    (ops.SELECT_FINALS, Call(request=ops.SelectFinals(task_id="no-such-task", submission_ids=[1]), actor=TEAM),
     404, "no task 'no-such-task'"),
    (ops.BOARD_AT, Call(request=ops.BoardAt(task_id="no-such-task", at=WHEN), actor=TEAM),
     404, "no task 'no-such-task'"),
    (ops.LIST_AUDIT, Call(request=ops.ListAudit(), actor=TEAM), 403, "Admin privileges required"),
    (ops.RESCORE_STATUS, Call(request=ops.RescoreStatus(rescore_id="r1"), actor=TEAM),
     403, "Admin privileges required"),
]


@pytest.mark.parametrize(("operation", "request_", "status", "detail"), REFUSALS,
                         ids=[f"{op.name}-{status}" for op, _, status, _ in REFUSALS])
async def test_a_refusal_answers_before_the_database_is_asked(operation: Operation, request_: msgspec.Struct,
                                                              status: int, detail: str) -> None:
    error = await ask(app_with(Untouchable("pool")), operation, msgspec.json.encode(request_))
    assert (error.status, error.detail) == (status, detail)


async def test_a_malformed_request_answers_400_with_what_is_wrong() -> None:
    error = await ask(app_with(Untouchable("pool")), ops.SET_STANDING,
                      b'{"request": {"team_id": 8}, "actor": {"account_id": "1"}}')
    assert (error.status, error.detail) == (
        400, "malformed standing request: Object missing required field `name` - at `$.actor`")


async def test_an_unknown_rescore_answers_404() -> None:
    error = await ask(app_with(NoRescores()), ops.RESCORE_STATUS,
                      msgspec.json.encode(Call(request=ops.RescoreStatus(rescore_id="r-unknown"), actor=ADMIN)))
    assert (error.status, error.detail) == (404, "no rescore 'r-unknown' (yet)")


# --- a new competition version ------------------------------------------------------------------------------


class RecordedBoards:
    """Stands in for the BoardPublisher: the definitions of the tasks whose boards were published."""

    def __init__(self, expected: int) -> None:
        self.published: list[Task] = []
        self.expected = expected
        self.done = asyncio.Event()

    async def publish(self, task: Task) -> None:
        self.published.append(task)
        if len(self.published) >= self.expected:
            self.done.set()


def redefined(competition: Competition, task_id: str, **changes: Any) -> Competition:
    return msgspec.structs.replace(competition, tasks=tuple(
        msgspec.structs.replace(task, **changes) if task.id == task_id else task for task in competition.tasks))


@pytest.mark.parametrize("changes", [{"title": "Renamed"}, {"sort": "asc"}, {"archived": True},
                                     {"phases": (Phase(id="late", opens_at=WHEN, closes_at=WHEN.replace(year=2027)),)},
                                     {"final_submissions": 5}])
async def test_a_task_a_new_version_redefines_gets_its_board_again(changes: dict[str, Any]) -> None:
    """Only that task's board, computed under the new definition; the unchanged task's board is left alone."""
    competition = current_competition()
    boards = RecordedBoards(expected=1)
    handlers = LeaderboardHandlers(competition=competition, pool=Untouchable("pool"),  # type: ignore[arg-type]
                                   boards=boards)  # type: ignore[arg-type]
    competition.listeners.append(handlers.competition_changed)
    republishing = asyncio.create_task(handlers.republish_redefined())
    try:
        assert competition.offer(fakes.version(2, redefined(COMPETITION, "reconstruction", **changes)))
        async with asyncio.timeout(30):
            await boards.done.wait()
    finally:
        republishing.cancel()
    assert [task.id for task in boards.published] == ["reconstruction"]
    assert boards.published[0] == competition.current.task("reconstruction")
    assert handlers.redefined.empty()


async def test_a_version_that_arrives_while_the_republisher_waits_is_the_one_published() -> None:
    """The republisher is already waiting for a redefined task when the host changes it again: the board is computed
    under the definition in use when the task arrives, not the one in use when the wait began."""
    competition = current_competition()
    boards = RecordedBoards(expected=1)
    handlers = LeaderboardHandlers(competition=competition, pool=Untouchable("pool"),  # type: ignore[arg-type]
                                   boards=boards)  # type: ignore[arg-type]
    competition.listeners.append(handlers.competition_changed)
    republishing = asyncio.create_task(handlers.republish_redefined())
    try:
        competition.offer(fakes.version(2, redefined(COMPETITION, "reconstruction", title="Second")))
        async with asyncio.timeout(30):
            await boards.done.wait()  # published, and waiting again (the queue is empty)
        boards.done.clear()
        boards.expected = 2
        competition.offer(fakes.version(3, redefined(COMPETITION, "reconstruction", title="Third")))
        async with asyncio.timeout(30):
            await boards.done.wait()
    finally:
        republishing.cancel()
    assert [task.title for task in boards.published] == ["Second", "Third"]


async def test_an_unchanged_definition_or_an_added_task_is_handled_once_each() -> None:
    """A version that changes nothing of a task publishes nothing for it; a task the version adds gets its first
    board at once (a service that started before the first version had no tasks to publish)."""
    competition = current_competition(Competition())
    handlers = LeaderboardHandlers(competition=competition, pool=Untouchable("pool"),  # type: ignore[arg-type]
                                   boards=Untouchable("boards"))  # type: ignore[arg-type]
    competition.listeners.append(handlers.competition_changed)
    competition.offer(fakes.version(2))
    competition.offer(fakes.version(3, msgspec.structs.replace(COMPETITION, competition=CompetitionInfo(name="x"))))
    queued = [handlers.redefined.get_nowait() for _ in range(handlers.redefined.qsize())]
    assert queued == [task.id for task in COMPETITION.tasks]
