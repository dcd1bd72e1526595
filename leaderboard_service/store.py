"""The leaderboard's queries for its request/reply operations: the revision of each board decision, whether a
private board is revealed, a team's scored submissions, the audit trail and a rescore's progress. (The projection's
own writes and the board's inputs are `leaderboard_service.projection`.)"""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg
import msgspec

from podium_runtime.connections import PgConnection
from proto import leaderboard as ops

MAX_AUDIT_ENTRIES = 1000


async def next_decision_revision(conn: PgConnection, decision: str) -> int:
    """In the caller's transaction: the next revision of `decision` (e.g. `standing:<team>`), from 1."""
    return await conn.fetchval(
        """INSERT INTO leaderboard.decision_revisions AS d (decision, revision) VALUES ($1, 1)
           ON CONFLICT (decision) DO UPDATE SET revision = d.revision + 1 RETURNING revision""",
        decision)


async def record_standing(conn: PgConnection, team_id: str, hidden: bool | None, disqualified: bool | None
                          ) -> asyncpg.Record:
    """In the caller's transaction: the team's next standing revision and the flags it sets — a flag left out
    (None) keeps what the previous decision set. One statement: the row lock orders concurrent decisions."""
    row = await conn.fetchrow(
        """INSERT INTO leaderboard.decision_revisions AS d (decision, revision, state)
           VALUES ($1, 1, jsonb_build_object('hidden', coalesce($2::boolean, false),
                                             'disqualified', coalesce($3::boolean, false)))
           ON CONFLICT (decision) DO UPDATE SET revision = d.revision + 1,
               state = jsonb_build_object(
                   'hidden', coalesce($2::boolean, (d.state ->> 'hidden')::boolean, false),
                   'disqualified', coalesce($3::boolean, (d.state ->> 'disqualified')::boolean, false))
           RETURNING revision, (state ->> 'hidden')::boolean AS hidden,
                     (state ->> 'disqualified')::boolean AS disqualified""",
        f"standing:{team_id}", hidden, disqualified)
    assert row is not None  # an upsert with RETURNING always returns its row
    return row


async def is_revealed(pool: asyncpg.Pool, task_id: str) -> bool:
    """The projection's current reveal state of the task's private board."""
    return bool(await pool.fetchval("SELECT revealed FROM leaderboard.reveals WHERE task_id = $1", task_id))


async def scored_submissions(pool: asyncpg.Pool, task_id: str, team_id: str, submission_ids: Sequence[int]
                             ) -> set[int]:
    """Those of `submission_ids` that are scored submissions of `team_id` on `task_id`."""
    rows = await pool.fetch(
        "SELECT DISTINCT submission_id FROM leaderboard.scores WHERE task_id = $1 AND team_id = $2 "
        "AND submission_id = ANY($3::bigint[])",
        task_id, team_id, list(submission_ids),
    )
    return {row["submission_id"] for row in rows}


async def audit_entries(pool: asyncpg.Pool, request: ops.ListAudit) -> list[ops.AuditEntry]:
    """The audit trail, newest first, filtered as the request asks (at most MAX_AUDIT_ENTRIES)."""
    rows = await pool.fetch(
        """SELECT stream, stream_seq, action, actor, target, detail, occurred_at FROM leaderboard.audit
           WHERE ($2 = '' OR action = $2) AND ($3 = '' OR actor = $3) AND ($4 = '' OR target = $4)
             AND ($5::timestamptz IS NULL OR occurred_at >= $5) AND ($6::timestamptz IS NULL OR occurred_at < $6)
           ORDER BY occurred_at DESC, stream, stream_seq DESC LIMIT $1""",
        max(1, min(request.limit, MAX_AUDIT_ENTRIES)), request.action, request.by, request.target, request.since,
        request.until)
    return [ops.AuditEntry(seq=r["stream_seq"], stream=r["stream"], action=r["action"], actor=r["actor"],
                           target=r["target"], detail=json.loads(r["detail"]), occurred_at=r["occurred_at"])
            for r in rows]


async def rescore_report(pool: asyncpg.Pool, rescore_id: str) -> ops.RescoreReport | None:
    """A rescore's progress (its submissions with an outcome under its version) and, once complete, who moved."""
    row = await pool.fetchrow(
        """SELECT r.*, (SELECT count(*) FROM unnest(r.expected) AS e(id)
               WHERE EXISTS (SELECT 1 FROM leaderboard.scores s
                             WHERE s.submission_id = e.id AND s.scorer_version = r.scorer_version)
                  OR EXISTS (SELECT 1 FROM leaderboard.failed_outcomes f
                             WHERE f.submission_id = e.id AND f.scorer_version = r.scorer_version)) AS done
           FROM leaderboard.rescores r WHERE rescore_id = $1""",
        rescore_id)
    if row is None:
        return None
    return ops.RescoreReport(
        rescore_id=row["rescore_id"], task_id=row["task_id"], scorer_version=row["scorer_version"],
        expected=len(row["expected"]), done=row["done"], completed=row["completed"],
        movements=msgspec.json.decode(row["movements"], type=list[ops.Movement]))


async def standings(pool: asyncpg.Pool) -> list[ops.TeamStanding]:
    """Teams hidden or disqualified, each with the latest standing decision's reason, who made it and when."""
    rows = await pool.fetch(
        """SELECT t.team_id, t.hidden, t.disqualified, a.actor, a.occurred_at, a.detail ->> 'reason' AS reason
           FROM leaderboard.teams t LEFT JOIN LATERAL (
               SELECT actor, occurred_at, detail FROM leaderboard.audit
               WHERE action = 'standing' AND target = t.team_id ORDER BY occurred_at DESC, stream_seq DESC LIMIT 1
           ) a ON true
           WHERE NOT t.deleted AND (t.hidden OR t.disqualified) ORDER BY t.team_id""")
    return [ops.TeamStanding(team_id=r["team_id"], hidden=r["hidden"], disqualified=r["disqualified"],
                             reason=r["reason"] or "", changed_by=r["actor"] or "", changed_at=r["occurred_at"])
            for r in rows]
