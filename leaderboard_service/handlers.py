"""Applying stream events to the projection and publishing the changed boards (KV + leaderboard.updated);
the admin and team decisions about the boards, each recorded as a BOARD event through the outbox."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import msgspec
from faststream.nats import NatsBroker
from nats.js.kv import KeyValue

from leaderboard_service import projection
from podium_runtime.outbox import Outbox
from podium_runtime.rpc import Refused
from proto import leaderboard as ops
from proto.competition import Competition, Task
from proto.events import AnyEvent, FinalsSelected, LeaderboardUpdated, PrivateBoardRevealed, TeamStandingChanged

log = logging.getLogger(__name__)
BoardDecision = TeamStandingChanged | PrivateBoardRevealed | FinalsSelected
outbox = Outbox(projection.SCHEMA)
_encoder = msgspec.json.Encoder()


@dataclass
class LeaderboardHandlers:
    competition: Competition
    pool: asyncpg.Pool | None = None
    broker: NatsBroker | None = None
    boards: KeyValue | None = None
    # One board computation per task at a time, so an older snapshot never overwrites a newer one.
    _locks: defaultdict[str, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))

    def _task(self, task_id: str) -> Task:
        task = self.competition.task(task_id)
        if task is None:
            raise Refused(404, f"no task {task_id!r}")
        return task

    async def on_event(self, stream: str, seq: int, event: AnyEvent) -> None:
        assert self.pool is not None
        async with self.pool.acquire() as conn, conn.transaction():
            # One event applied at a time across the streams' consumers: a rescore's request (SUBMISSIONS) and its
            # last outcome (SCORES) applied in two concurrent transactions would each miss the other's rows, and the
            # rescore would never complete.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", projection.APPLY_LOCK)
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
            for task in projection.affected_tasks(changed, self.competition.tasks):
                # The switch to a rescore's version happens in the transaction of its last outcome.
                await projection.complete_rescores(conn, task)
        for task in projection.affected_tasks(changed, self.competition.tasks):
            await self.publish_board(task)

    async def publish_board(self, task: Task) -> None:
        assert self.pool is not None and self.boards is not None and self.broker is not None
        async with self._locks[task.id]:
            async with self.pool.acquire() as conn:
                board = await projection.board(conn, task)
            revision = await self.boards.put(task.id, _encoder.encode(board))
        update = LeaderboardUpdated(task_id=task.id, revision=revision, kv_key=task.id)
        await self.broker.publish(_encoder.encode(update), update.subject())

    async def publish_all(self) -> None:
        for task in self.competition.tasks:
            await self.publish_board(task)

    async def restore(self, wiped: frozenset[str]) -> None:
        """JetStream's store was wiped: read the new streams after everything applied, put the boards back."""
        assert self.pool is not None
        async with self.pool.acquire() as conn, conn.transaction():
            await projection.stream_started_again(conn, wiped)
        await self.publish_all()

    # --- decisions ---------------------------------------------------------------------------

    async def _record(self, decision: str, build: Callable[[int], BoardDecision]) -> int:
        """Record a decision as a BOARD event through the outbox, with the decision's next revision."""
        assert self.pool is not None
        async with self.pool.acquire() as conn, conn.transaction():
            revision = await conn.fetchval(
                """INSERT INTO leaderboard.decision_revisions AS d (decision, revision) VALUES ($1, 1)
                   ON CONFLICT (decision) DO UPDATE SET revision = d.revision + 1 RETURNING revision""",
                decision)
            await outbox.add(conn, build(revision))
        return revision

    async def set_standing(self, request: ops.SetStanding) -> ops.Accepted:
        if not request.actor.is_admin:
            raise Refused(403, "Admin privileges required")
        team_id = str(request.team_id)
        revision = await self._record(f"standing:{team_id}", lambda revision: TeamStandingChanged(
            team_id=team_id, hidden=request.hidden, disqualified=request.disqualified, revision=revision,
            actor=request.actor.name, reason=request.reason[:500]))
        return ops.Accepted(message=f"team {team_id}: hidden={request.hidden}, disqualified={request.disqualified}",
                            revision=revision)

    async def set_reveal(self, request: ops.SetReveal) -> ops.Accepted:
        if not request.actor.is_admin:
            raise Refused(403, "Admin privileges required")
        task = self._task(request.task_id)
        revision = await self._record(f"reveal:{task.id}", lambda revision: PrivateBoardRevealed(
            task_id=task.id, revealed=request.revealed, revision=revision, actor=request.actor.name))
        return ops.Accepted(message=f"private board of {task.id} revealed={request.revealed}", revision=revision)

    async def _check_finals_open(self, task: Task) -> None:
        """Finals are locked once the task's last phase has closed or while its private board is revealed (the
        projection's current reveal state, read per request): a team that could see private scores must not
        choose its finals by them."""
        assert self.pool is not None
        closes_at = task.closes_at()
        if closes_at is not None and datetime.now(UTC) >= closes_at:
            raise Refused(409, f"final submissions for task {task.id} are locked: its last phase closed at "
                               f"{closes_at.isoformat()}")
        if await self.pool.fetchval("SELECT revealed FROM leaderboard.reveals WHERE task_id = $1", task.id):
            raise Refused(409, f"final submissions for task {task.id} are locked: its private board is revealed")

    async def select_finals(self, request: ops.SelectFinals) -> ops.Accepted:
        assert self.pool is not None
        task = self._task(request.task_id)
        if request.actor.is_admin:
            raise Refused(403, "final submissions are chosen by the team")
        await self._check_finals_open(task)
        chosen = sorted(set(request.submission_ids))
        if len(chosen) > task.final_submissions:
            raise Refused(422, f"at most {task.final_submissions} final submissions for task {task.id}")
        owned = await self.pool.fetch(
            "SELECT DISTINCT submission_id FROM leaderboard.scores WHERE task_id = $1 AND team_id = $2 "
            "AND submission_id = ANY($3::bigint[])",
            task.id, request.actor.account_id, chosen,
        )
        unknown = set(chosen) - {r["submission_id"] for r in owned}
        if unknown:
            raise Refused(404, f"no scored submission {sorted(unknown)} of your team on task {task.id}")
        team_id = request.actor.account_id
        revision = await self._record(f"finals:{team_id}:{task.id}", lambda revision: FinalsSelected(
            team_id=team_id, task_id=task.id, submission_ids=tuple(str(s) for s in chosen), revision=revision,
            actor=request.actor.name))
        return ops.Accepted(message=f"final submissions for {task.id}: {chosen or 'your best public ones'}",
                            revision=revision)

    async def board_at(self, request: ops.BoardAt) -> ops.BoardSnapshot:
        assert self.pool is not None
        task = self._task(request.task_id)
        async with self.pool.acquire() as conn:
            board = await projection.board(conn, task, as_of=request.at)
        snapshot = msgspec.to_builtins(board)
        if not (board.private_revealed or (request.actor is not None and request.actor.is_admin)):
            snapshot["private"] = []
        return ops.BoardSnapshot(board=snapshot)

    async def list_audit(self, request: ops.ListAudit) -> ops.AuditList:
        assert self.pool is not None
        if not request.actor.is_admin:
            raise Refused(403, "Admin privileges required")
        rows = await self.pool.fetch(
            """SELECT stream, stream_seq, action, actor, target, detail, occurred_at FROM leaderboard.audit
               WHERE ($2 = '' OR action = $2) AND ($3 = '' OR actor = $3) AND ($4 = '' OR target = $4)
                 AND ($5::timestamptz IS NULL OR occurred_at >= $5) AND ($6::timestamptz IS NULL OR occurred_at < $6)
               ORDER BY occurred_at DESC, stream, stream_seq DESC LIMIT $1""",
            max(1, min(request.limit, 1000)), request.action, request.by, request.target, request.since,
            request.until)
        return ops.AuditList(entries=[
            ops.AuditEntry(seq=r["stream_seq"], stream=r["stream"], action=r["action"], actor=r["actor"],
                           target=r["target"], detail=json.loads(r["detail"]), occurred_at=r["occurred_at"])
            for r in rows])

    async def list_standings(self, request: ops.ListStandings) -> ops.Standings:
        assert self.pool is not None
        if not request.actor.is_admin:
            raise Refused(403, "Admin privileges required")
        rows = await self.pool.fetch(
            """SELECT t.team_id, t.hidden, t.disqualified, a.actor, a.occurred_at, a.detail ->> 'reason' AS reason
               FROM leaderboard.teams t LEFT JOIN LATERAL (
                   SELECT actor, occurred_at, detail FROM leaderboard.audit
                   WHERE action = 'standing' AND target = t.team_id ORDER BY occurred_at DESC, stream_seq DESC LIMIT 1
               ) a ON true
               WHERE NOT t.deleted AND (t.hidden OR t.disqualified) ORDER BY t.team_id""")
        return ops.Standings(teams=[
            ops.TeamStanding(team_id=r["team_id"], hidden=r["hidden"], disqualified=r["disqualified"],
                             reason=r["reason"] or "", changed_by=r["actor"] or "", changed_at=r["occurred_at"])
            for r in rows])

    async def rescore_status(self, request: ops.RescoreStatus) -> ops.RescoreReport:
        assert self.pool is not None
        if not request.actor.is_admin:
            raise Refused(403, "Admin privileges required")
        row = await self.pool.fetchrow(
            """SELECT r.*, (SELECT count(*) FROM unnest(r.expected) AS e(id)
                   WHERE EXISTS (SELECT 1 FROM leaderboard.scores s
                                 WHERE s.submission_id = e.id AND s.scorer_version = r.scorer_version)
                      OR EXISTS (SELECT 1 FROM leaderboard.failed_outcomes f
                                 WHERE f.submission_id = e.id AND f.scorer_version = r.scorer_version)) AS done
               FROM leaderboard.rescores r WHERE rescore_id = $1""",
            request.rescore_id)
        if row is None:
            raise Refused(404, f"no rescore {request.rescore_id!r} (yet)")
        return ops.RescoreReport(
            rescore_id=row["rescore_id"], task_id=row["task_id"], scorer_version=row["scorer_version"],
            expected=len(row["expected"]), done=row["done"], completed=row["completed"],
            movements=msgspec.json.decode(row["movements"], type=list[ops.Movement]))

    def operations(self) -> dict:
        return {ops.SET_STANDING: self.set_standing, ops.SET_REVEAL: self.set_reveal,
                ops.SELECT_FINALS: self.select_finals, ops.BOARD_AT: self.board_at, ops.LIST_AUDIT: self.list_audit,
                ops.RESCORE_STATUS: self.rescore_status, ops.LIST_STANDINGS: self.list_standings}
