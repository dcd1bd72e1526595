"""Applying stream events to the projection and publishing the changed boards (KV + leaderboard.updated);
publishing again the boards of tasks a new competition version redefined; the admin and team decisions about the
boards, each recorded as a BOARD event through the outbox. The handler objects are built from the service's Deps
(`leaderboard_service.app.wire`) and reach the subscribers through FastStream's context; SQL lives in `projection`
and `store`."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
import msgspec
from faststream import Context
from faststream.nats import NatsBroker, NatsMessage, NatsRouter
from nats.js.kv import KeyValue

from leaderboard_service import projection, store
from podium_runtime.coalesce import Coalescer
from podium_runtime.competition import CurrentCompetition
from podium_runtime.consumers import durable_subscriber
from podium_runtime.outbox import Outbox
from podium_runtime.rpc import Method, Refused, rpc_methods_router
from proto import leaderboard as ops
from proto.competition import CompetitionVersion, Task
from proto.events import AnyEvent, FinalsSelected, LeaderboardUpdated, PrivateBoardRevealed, TeamStandingChanged
from proto.rpc import Operation, Principal
from proto.streams import (
    LEADERBOARD_BOARD,
    LEADERBOARD_QA,
    LEADERBOARD_RESCORES,
    LEADERBOARD_SCORES,
    LEADERBOARD_TEAMS,
)

log = logging.getLogger(__name__)
BoardDecision = TeamStandingChanged | PrivateBoardRevealed | FinalsSelected
outbox = Outbox(projection.SCHEMA)
BOARD_INTERVAL_S = 0.2
_encoder = msgspec.json.Encoder()
CONSUMERS = (LEADERBOARD_SCORES, LEADERBOARD_TEAMS, LEADERBOARD_BOARD, LEADERBOARD_RESCORES, LEADERBOARD_QA)


@dataclass
class BoardPublisher:
    """A task's boards computed from the projection, put in the `leaderboards` bucket and announced."""

    pool: asyncpg.Pool
    kv: KeyValue
    broker: NatsBroker
    # A task's board is computed at most once in this time for the stream's events (`publish_soon`): a busy task's
    # events applied meanwhile share one computation, which reads every score of the task. The gateway pushes a
    # board at most every 0.2 s (gateway.live.PUSH_INTERVAL_S) anyway.
    min_interval_s: float = BOARD_INTERVAL_S
    # One board computation per task at a time, so an older snapshot never overwrites a newer one.
    _locks: defaultdict[str, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))
    _soon: Coalescer = field(init=False)

    def __post_init__(self) -> None:
        self._soon = Coalescer(self.min_interval_s, failed="a board was not published")

    async def publish(self, task: Task) -> None:
        async with self._locks[task.id]:
            async with self.pool.acquire() as conn:
                board = await projection.board(conn, task)
            revision = await self.kv.put(task.id, _encoder.encode(board))
        update = LeaderboardUpdated(task_id=task.id, revision=revision, kv_key=task.id)
        await self.broker.publish(_encoder.encode(update), update.subject())

    async def publish_soon(self, task: Task) -> None:
        """The board of `task` as the projection has it by then: computed at once when none was in the last
        `min_interval_s`, else once that time is over, for every call made meanwhile (the newest definition, in the
        trace of the newest call)."""
        self._soon.soon(task.id, lambda: self.publish(task))

    @property
    def idle(self) -> bool:
        return self._soon.idle


@dataclass
class LeaderboardHandlers:
    competition: CurrentCompetition
    pool: asyncpg.Pool
    boards: BoardPublisher
    # Tasks a new competition version redefined (or added), whose boards wait to be published again.
    redefined: asyncio.Queue[str] = field(default_factory=asyncio.Queue)

    def _task(self, task_id: str) -> Task:
        task = self.competition.current.task(task_id)
        if task is None:
            raise Refused(404, f"no task {task_id!r}")
        return task

    async def on_event(self, stream: str, seq: int, event: AnyEvent) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            # One event applied at a time across the streams' consumers: a rescore's request (SUBMISSIONS) and its
            # last outcome (SCORES) applied in two concurrent transactions would each miss the other's rows, and the
            # rescore would never complete.
            await projection.lock_for_apply(conn)
            position = await projection.claim(conn, stream, seq)
            if position is None:
                return  # applied before: a redelivery or a replay
            try:
                projection.check(event)
            except projection.MalformedEvent as exc:
                # Claimed and skipped, as the rebuild skips it: retrying cannot mend it.
                log.warning("skipped a malformed event", extra={"stream": stream, "seq": seq,
                                                                "event": type(event).__name__, "reason": str(exc)})
                return
            changed = await projection.apply(conn, event, stream=stream, seq=position)
            affected = projection.affected_tasks(changed, self.competition.current.tasks)
            for task in affected:
                # The switch to a rescore's version happens in the transaction of its last outcome.
                await projection.complete_rescores(conn, task)
        for task in affected:
            await self.boards.publish_soon(task)

    async def publish_all(self) -> None:
        for task in self.competition.current.tasks:
            await self.boards.publish(task)

    def competition_changed(self, previous: CompetitionVersion, version: CompetitionVersion) -> None:
        """A CurrentCompetition listener: each task whose definition the new version changed (its title, sort,
        phases, archived flag, finals …) or added gets its board published again, by `republish_redefined` (a
        listener is called from the bucket's follower and must not wait)."""
        before = {task.id: task for task in previous.competition.tasks}
        for task in version.competition.tasks:
            if before.get(task.id) != task:
                self.redefined.put_nowait(task.id)

    async def republish_redefined(self) -> None:
        """For as long as the service runs: publish the board of each redefined task under its newest definition."""
        while True:
            task_id = await self.redefined.get()
            # Looked up once the task arrives: the version in use then, not when the wait began.
            task = self.competition.current.task(task_id)
            if task is None:
                continue  # removed again by a later version
            try:
                await self.boards.publish(task)
            except Exception:  # nats-py, asyncpg and OSError share no base class; the next event publishes it
                log.exception("a redefined task's board was not published", extra={"task_id": task.id})

    async def restore(self, wiped: frozenset[str]) -> None:
        """JetStream's store was wiped: read the new streams after everything applied, put the boards back."""
        async with self.pool.acquire() as conn, conn.transaction():
            await projection.stream_started_again(conn, wiped)
        await self.publish_all()

    # --- decisions ---------------------------------------------------------------------------

    async def _record(self, decision: str, build: Callable[[int], BoardDecision]) -> int:
        """Record a decision as a BOARD event through the outbox, with the decision's next revision."""
        async with self.pool.acquire() as conn, conn.transaction():
            revision = await store.next_decision_revision(conn, decision)
            await outbox.add(conn, build(revision))
        return revision

    async def set_standing(self, request: ops.SetStanding, actor: Principal) -> ops.StandingAccepted:
        if not actor.is_admin:
            raise Refused(403, "Admin privileges required")
        team_id = str(request.team_id)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await store.record_standing(conn, team_id, request.hidden, request.disqualified)
            await outbox.add(conn, TeamStandingChanged(
                team_id=team_id, hidden=row["hidden"], disqualified=row["disqualified"], revision=row["revision"],
                actor=actor.name, reason=request.reason[:500]))
        return ops.StandingAccepted(
            message=f"team {team_id}: hidden={row['hidden']}, disqualified={row['disqualified']}",
            revision=row["revision"], hidden=row["hidden"], disqualified=row["disqualified"])

    async def set_reveal(self, request: ops.SetReveal, actor: Principal) -> ops.Accepted:
        if not actor.is_admin:
            raise Refused(403, "Admin privileges required")
        task = self._task(request.task_id)
        revision = await self._record(f"reveal:{task.id}", lambda revision: PrivateBoardRevealed(
            task_id=task.id, revealed=request.revealed, revision=revision, actor=actor.name))
        return ops.Accepted(message=f"private board of {task.id} revealed={request.revealed}", revision=revision)

    async def _check_finals_open(self, task: Task) -> None:
        """Finals are locked once the task's last phase has closed or while its private board is revealed (the
        projection's current reveal state, read per request): a team that could see private scores must not
        choose its finals by them."""
        closes_at = task.closes_at()
        if closes_at is not None and datetime.now(UTC) >= closes_at:
            raise Refused(409, f"final submissions for task {task.id} are locked: its last phase closed at "
                               f"{closes_at.isoformat()}")
        if await store.is_revealed(self.pool, task.id):
            raise Refused(409, f"final submissions for task {task.id} are locked: its private board is revealed")

    async def select_finals(self, request: ops.SelectFinals, actor: Principal) -> ops.Accepted:
        task = self._task(request.task_id)
        if actor.is_admin:
            raise Refused(403, "final submissions are chosen by the team")
        await self._check_finals_open(task)
        chosen = sorted(set(request.submission_ids))
        if len(chosen) > task.final_submissions:
            raise Refused(422, f"at most {task.final_submissions} final submissions for task {task.id}")
        team_id = actor.account_id
        unknown = set(chosen) - await store.scored_submissions(self.pool, task.id, team_id, chosen)
        if unknown:
            raise Refused(404, f"no scored submission {sorted(unknown)} of your team on task {task.id}")
        revision = await self._record(f"finals:{team_id}:{task.id}", lambda revision: FinalsSelected(
            team_id=team_id, task_id=task.id, submission_ids=tuple(str(s) for s in chosen), revision=revision,
            actor=actor.name))
        return ops.Accepted(message=f"final submissions for {task.id}: {chosen or 'your best public ones'}",
                            revision=revision)

    async def board_at(self, request: ops.BoardAt, actor: Principal | None) -> ops.BoardSnapshot:
        task = self._task(request.task_id)
        async with self.pool.acquire() as conn:
            board = await projection.board(conn, task, as_of=request.at)
        snapshot = msgspec.to_builtins(board)
        if not (board.private_revealed or (actor is not None and actor.is_admin)):
            snapshot["private"] = []
        return ops.BoardSnapshot(board=snapshot)

    async def list_audit(self, request: ops.ListAudit, actor: Principal) -> ops.AuditList:
        if not actor.is_admin:
            raise Refused(403, "Admin privileges required")
        return ops.AuditList(entries=await store.audit_entries(self.pool, request))

    async def list_standings(self, _request: ops.ListStandings, actor: Principal) -> ops.Standings:
        if not actor.is_admin:
            raise Refused(403, "Admin privileges required")
        return ops.Standings(teams=await store.standings(self.pool))

    async def rescore_status(self, request: ops.RescoreStatus, actor: Principal) -> ops.RescoreReport:
        if not actor.is_admin:
            raise Refused(403, "Admin privileges required")
        report = await store.rescore_report(self.pool, request.rescore_id)
        if report is None:
            raise Refused(404, f"no rescore {request.rescore_id!r} (yet)")
        return report


OPERATIONS: dict[Operation, Method] = {
    ops.SET_STANDING: LeaderboardHandlers.set_standing, ops.SET_REVEAL: LeaderboardHandlers.set_reveal,
    ops.SELECT_FINALS: LeaderboardHandlers.select_finals, ops.BOARD_AT: LeaderboardHandlers.board_at,
    ops.LIST_AUDIT: LeaderboardHandlers.list_audit, ops.RESCORE_STATUS: LeaderboardHandlers.rescore_status,
    ops.LIST_STANDINGS: LeaderboardHandlers.list_standings,
}


def create_routers(queue: str) -> tuple[NatsRouter, NatsRouter]:
    """The request/reply operations and the durable consumers (scores, teams, board decisions, rescores, Q&A);
    the handlers arrive through FastStream's context (`wire`)."""
    events = NatsRouter()

    def applier(name: str):  # noqa: ANN202 — one handler per consumer, each with its own name
        async def apply(event: AnyEvent, message: NatsMessage,
                        handlers: Annotated[LeaderboardHandlers, Context("handlers")]) -> None:
            metadata = message.raw_message.metadata
            await handlers.on_event(metadata.stream, metadata.sequence.stream, event)

        apply.__name__ = f"apply_{name}"
        return apply

    for consumer in CONSUMERS:
        durable_subscriber(events, consumer)(applier(consumer.durable))
    return rpc_methods_router(queue, "handlers", OPERATIONS), events
