"""Applying events to the `leaderboard` schema, once each, and reading a task's inputs back for
`board.compute_board`. Every apply is idempotent on its own (keyed inserts, revision checks), and the stream
sequence guard makes a redelivery or a replay of an applied event a no-op."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

import msgspec

from leaderboard_service.board import ScoreRow, TeamState, board_columns, compute_board
from podium_runtime.connections import PgConnection
from proto.competition import Task
from proto.events import (
    AnyEvent,
    FinalsSelected,
    PrivateBoardRevealed,
    QuestionChanged,
    RescoreRequested,
    ScoreComputed,
    ScoreFailed,
    SubmissionCancelled,
    TeamCreated,
    TeamDeleted,
    TeamStandingChanged,
    TeamUpdated,
)
from proto.leaderboard import Board, Movement

SCHEMA = "leaderboard"
BIGINT_MAX = 2**63 - 1
# The transaction-level advisory lock every live application of an event takes (LeaderboardHandlers.on_event).
APPLY_LOCK = 0x6C6561646572


class MalformedEvent(ValueError):
    """An event the projection cannot hold (a submission id that is not a PostgreSQL bigint): no redelivery or
    replay changes that, so it is skipped and reported, never retried, and it never stops the others."""


def submission_number(value: str) -> int:
    """A submission id as the projection keeps it: the digits of a positive bigint, nothing else."""
    if not (value.isascii() and value.isdigit() and len(value) <= len(str(BIGINT_MAX))) or int(value) > BIGINT_MAX:
        raise MalformedEvent(f"submission id {value[:80]!r} is not a 64-bit integer")
    return int(value)


def check(event: AnyEvent) -> None:
    """Raise MalformedEvent when `apply` could not hold `event` (it checks before writing anything)."""
    match event:
        case ScoreComputed() | ScoreFailed() | SubmissionCancelled():
            submission_number(event.submission_id)
        case RescoreRequested() | FinalsSelected():
            for submission_id in event.submission_ids:
                submission_number(submission_id)


async def claim(conn: PgConnection, stream: str, seq: int) -> int | None:
    """In the caller's transaction: the event's position if message `seq` of `stream` is new (and is now recorded
    as applied), else None. The position is `seq` plus the stream's `base` (its earlier life's last sequence, when
    JetStream's store was wiped and the stream started again)."""
    return await conn.fetchval(
        """INSERT INTO leaderboard.applied (stream, last_seq) VALUES ($1, $2)
           ON CONFLICT (stream) DO UPDATE SET last_seq = leaderboard.applied.base + $2
           WHERE leaderboard.applied.last_seq < leaderboard.applied.base + $2
           RETURNING last_seq""",
        stream, seq,
    )


async def stream_started_again(conn: PgConnection, streams: Iterable[str]) -> None:
    """JetStream's store was wiped and these streams created again: their new messages come after everything
    applied so far, and their earlier history is recorded as lost."""
    rows = await conn.fetch(
        "UPDATE leaderboard.applied SET base = last_seq WHERE stream = ANY($1) RETURNING stream, last_seq",
        list(streams))
    await conn.executemany(
        "INSERT INTO leaderboard.lost_history (stream, last_seq) VALUES ($1, $2) ON CONFLICT (stream) DO UPDATE "
        "SET last_seq = excluded.last_seq, lost_at = now()",
        [(row["stream"], row["last_seq"]) for row in rows if row["last_seq"] > 0])


async def lock_for_apply(conn: PgConnection) -> None:
    """In the caller's transaction: wait until no other event is being applied (see APPLY_LOCK)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", APPLY_LOCK)


async def apply(conn: PgConnection, event: AnyEvent, *, stream: str, seq: int) -> set[str]:
    """Apply one event (message `seq` of `stream`); return the tasks whose boards may have changed (for a team
    change, the tasks the team has scores in: the boards it is on). Admin actions are also written to the audit
    trail, once per stream message. A malformed event raises MalformedEvent before anything is written."""
    check(event)
    where = (stream, seq)
    match event:
        case ScoreComputed():
            await _score(conn, event)
        case ScoreFailed():
            await _failure(conn, event)
        case SubmissionCancelled():
            await _cancellation(conn, event, where)
        case RescoreRequested():
            await _rescore_request(conn, event, where)
        case TeamCreated() | TeamUpdated():
            await _team(conn, event, where)
            return await _boards_of_team(conn, event.team_id)
        case TeamDeleted():
            await _team_deletion(conn, event, where)
            return await _boards_of_team(conn, event.team_id)
        case QuestionChanged():
            await _audit(conn, where, event.actor, event.occurred_at, f"question_{event.change}",
                         str(event.question_id), {"team_id": event.team_id, "visible_to_all": event.visible_to_all})
            return set()
        case TeamStandingChanged():
            await _standing(conn, event, where)
            return await _boards_of_team(conn, event.team_id)
        case PrivateBoardRevealed():
            await _reveal(conn, event, where)
        case FinalsSelected():
            await _finals(conn, event, where)
        case _:
            return set()
    return {event.task_id}


# `leaderboard.scores`' columns, in the order of `score_record` (the rebuild copies records in bulk).
SCORE_COLUMNS = ("submission_id", "scorer_version", "team_id", "task_id", "phase_id", "public_score", "private_score",
                 "submitted_at", "public_columns", "private_columns")
# A value that is not a finite number becomes null (JSON has no NaN, and jsonb refuses it); a board reads it back
# as missing, so it never ranks.
_columns_encoder = msgspec.json.Encoder()
_columns_decoder = msgspec.json.Decoder(dict[str, float | None])


def score_record(event: ScoreComputed) -> tuple:
    """A score as `leaderboard.scores` holds it (SCORE_COLUMNS): the live path and the rebuild store the same."""
    return (submission_number(event.submission_id), event.scorer_version, event.team_id, event.task_id,
            event.phase_id, event.public_score, event.private_score, event.submitted_at,
            _columns_encoder.encode(event.public_columns).decode(),
            _columns_encoder.encode(event.private_columns).decode())


def _column_values(stored: str) -> dict[str, float]:
    return {name: value for name, value in _columns_decoder.decode(stored).items() if value is not None}


async def _boards_of_team(conn: PgConnection, team_id: str) -> set[str]:
    """The tasks a team has scores in: the only boards its name or standing can change (a new team is on none, so
    registering a team recomputes nothing, however many tasks the competition has)."""
    rows = await conn.fetch("SELECT DISTINCT task_id FROM leaderboard.scores WHERE team_id = $1", team_id)
    return {row["task_id"] for row in rows}


async def _score(conn: PgConnection, event: ScoreComputed) -> None:
    await conn.execute(
        f"""INSERT INTO leaderboard.scores ({", ".join(SCORE_COLUMNS)})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb) ON CONFLICT DO NOTHING""",
        *score_record(event),
    )


async def _failure(conn: PgConnection, event: ScoreFailed) -> None:
    await conn.execute(
        "INSERT INTO leaderboard.failed_outcomes (submission_id, scorer_version) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING",
        int(event.submission_id), event.scorer_version,
    )


async def _cancellation(conn: PgConnection, event: SubmissionCancelled, where: tuple[str, int]) -> None:
    await conn.execute("INSERT INTO leaderboard.cancelled (submission_id) VALUES ($1) ON CONFLICT DO NOTHING",
                       int(event.submission_id))
    # A withdrawn submission (an admin's, after its score) leaves the board the same way: its score is void.
    await _audit(conn, where, event.cancelled_by, event.occurred_at, "withdraw" if event.withdrawn else "cancel",
                 event.submission_id, {"task_id": event.task_id, "team_id": event.team_id, "by_admin": event.by_admin})


async def _rescore_request(conn: PgConnection, event: RescoreRequested, where: tuple[str, int]) -> None:
    await conn.execute(
        "INSERT INTO leaderboard.rescores (rescore_id, task_id, scorer_version, expected, requested_seq) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        event.rescore_id, event.task_id, event.scorer_version, [int(s) for s in event.submission_ids], where[1],
    )
    await _audit(conn, where, event.requested_by, event.occurred_at, "rescore", event.task_id,
                 {"rescore_id": event.rescore_id, "scorer_version": event.scorer_version,
                  "submissions": len(event.submission_ids)})


async def _team(conn: PgConnection, event: TeamCreated | TeamUpdated, where: tuple[str, int]) -> None:
    await conn.execute(
        """INSERT INTO leaderboard.teams (team_id, name, name_revision) VALUES ($1, $2, $3)
           ON CONFLICT (team_id) DO UPDATE SET name = $2, name_revision = $3
           WHERE leaderboard.teams.name_revision < $3""",
        event.team_id, event.name, event.revision,
    )
    detail = {"name": event.name, "members": len(event.members)}
    if isinstance(event, TeamUpdated):
        detail["disabled"] = event.disabled
    await _audit(conn, where, event.actor, event.occurred_at,
                 "team_created" if isinstance(event, TeamCreated) else "team_updated", event.team_id, detail)


async def _team_deletion(conn: PgConnection, event: TeamDeleted, where: tuple[str, int]) -> None:
    await conn.execute(
        """INSERT INTO leaderboard.teams (team_id, name, name_revision, deleted) VALUES ($1, '', $2, true)
           ON CONFLICT (team_id) DO UPDATE SET deleted = true""",
        event.team_id, event.revision,
    )
    await _audit(conn, where, event.actor, event.occurred_at, "team_deleted", event.team_id, {})


async def _standing(conn: PgConnection, event: TeamStandingChanged, where: tuple[str, int]) -> None:
    await conn.execute(
        """INSERT INTO leaderboard.teams (team_id, name, name_revision, hidden, disqualified,
               standing_revision) VALUES ($1, '', 0, $2, $3, $4)
           ON CONFLICT (team_id) DO UPDATE SET hidden = $2, disqualified = $3, standing_revision = $4
           WHERE leaderboard.teams.standing_revision < $4""",
        event.team_id, event.hidden, event.disqualified, event.revision,
    )
    await _audit(conn, where, event.actor, event.occurred_at, "standing", event.team_id,
                 {"hidden": event.hidden, "disqualified": event.disqualified, "reason": event.reason})


async def _reveal(conn: PgConnection, event: PrivateBoardRevealed, where: tuple[str, int]) -> None:
    await conn.execute(
        """INSERT INTO leaderboard.reveals (task_id, revealed, revision) VALUES ($1, $2, $3)
           ON CONFLICT (task_id) DO UPDATE SET revealed = $2, revision = $3
           WHERE leaderboard.reveals.revision < $3""",
        event.task_id, event.revealed, event.revision,
    )
    await _audit(conn, where, event.actor, event.occurred_at, "reveal", event.task_id, {"revealed": event.revealed})


async def _finals(conn: PgConnection, event: FinalsSelected, where: tuple[str, int]) -> None:
    await conn.execute(
        """INSERT INTO leaderboard.finals (team_id, task_id, submission_ids, revision) VALUES ($1, $2, $3, $4)
           ON CONFLICT (team_id, task_id) DO UPDATE SET submission_ids = $3, revision = $4
           WHERE leaderboard.finals.revision < $4""",
        event.team_id, event.task_id, [int(s) for s in event.submission_ids], event.revision,
    )
    await _audit(conn, where, event.actor, event.occurred_at, "finals", event.team_id,
                 {"task_id": event.task_id, "submission_ids": list(event.submission_ids)})


async def _audit(conn: PgConnection, where: tuple[str, int], actor: str, occurred_at: datetime, action: str,
                 target: str, detail: dict) -> None:
    await conn.execute(
        "INSERT INTO leaderboard.audit (stream, stream_seq, action, actor, target, detail, occurred_at) "
        "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) ON CONFLICT DO NOTHING",
        *where, action, actor, target, json.dumps(detail), occurred_at,
    )


async def board(conn: PgConnection, task: Task, *, as_of: datetime | None = None) -> Board:
    """Read a task's inputs and compute its board (optionally as it stood at `as_of`)."""
    # Every score counts except one under a rescore's version while that rescore is not complete: a submission
    # counts with its score under the most recently activated rescore that has one, else with its original score
    # (activation 0). The task's scoring identity is not consulted: a changed definition (a new ground truth, a new
    # metric parameter) keeps the scores computed under the old one on the board until a rescore switches it.
    rows = await conn.fetch(
        """SELECT DISTINCT ON (s.submission_id) s.submission_id, s.team_id, s.public_score, s.private_score,
                  s.submitted_at, s.public_columns, s.private_columns
           FROM leaderboard.scores s
           LEFT JOIN leaderboard.active_versions v ON v.task_id = s.task_id AND v.scorer_version = s.scorer_version
           WHERE s.task_id = $1
             AND (v.activation IS NOT NULL OR NOT EXISTS (
                 SELECT 1 FROM leaderboard.rescores r WHERE r.task_id = s.task_id
                                                        AND r.scorer_version = s.scorer_version))
             AND ($2::timestamptz IS NULL OR s.submitted_at <= $2)
             AND NOT EXISTS (SELECT 1 FROM leaderboard.cancelled c WHERE c.submission_id = s.submission_id)
           ORDER BY s.submission_id, coalesce(v.activation, 0) DESC, s.scorer_version""",
        task.id, as_of,
    )
    team_rows = await conn.fetch("SELECT team_id, name, deleted, hidden, disqualified FROM leaderboard.teams")
    teams = {r["team_id"]: TeamState(r["name"] or f"team {r['team_id']}", r["hidden"], r["disqualified"],
                                     r["deleted"]) for r in team_rows}
    scores = [ScoreRow(r["submission_id"], r["team_id"], r["public_score"], r["private_score"], r["submitted_at"],
                       _column_values(r["public_columns"]), _column_values(r["private_columns"])) for r in rows]
    for row in scores:  # a score can arrive before its team's event: show the team under its id meanwhile
        teams.setdefault(row.team_id, TeamState(f"team {row.team_id}"))
    finals = {r["team_id"]: frozenset(r["submission_ids"]) for r in await conn.fetch(
        "SELECT team_id, submission_ids FROM leaderboard.finals WHERE task_id = $1", task.id)}
    revealed = bool(await conn.fetchval("SELECT revealed FROM leaderboard.reveals WHERE task_id = $1", task.id))
    return compute_board(task.id, board_columns(task), scores, teams, finals, max_finals=task.final_submissions,
                         private_revealed=revealed)


async def complete_rescores(conn: PgConnection, task: Task) -> list[str]:
    """Activate every rescore of `task` whose submissions all have an outcome, recording who moved."""
    completed = []
    pending = await conn.fetch(
        """SELECT r.rescore_id, r.scorer_version, r.requested_seq FROM leaderboard.rescores r
           WHERE r.task_id = $1 AND NOT r.completed AND NOT EXISTS (
               SELECT 1 FROM unnest(r.expected) AS e(submission_id)
               WHERE NOT EXISTS (SELECT 1 FROM leaderboard.scores s
                                 WHERE s.submission_id = e.submission_id AND s.scorer_version = r.scorer_version)
                 AND NOT EXISTS (SELECT 1 FROM leaderboard.failed_outcomes f
                                 WHERE f.submission_id = e.submission_id AND f.scorer_version = r.scorer_version))
           ORDER BY r.requested_seq""",
        task.id,
    )
    for rescore in pending:
        before = await board(conn, task)
        await conn.execute(
            "INSERT INTO leaderboard.active_versions (task_id, scorer_version, activation) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING",
            task.id, rescore["scorer_version"], rescore["requested_seq"],
        )
        after = await board(conn, task)
        await conn.execute(
            "UPDATE leaderboard.rescores SET completed = true, movements = $2::jsonb WHERE rescore_id = $1",
            rescore["rescore_id"], msgspec.json.encode(movements(before, after)).decode(),
        )
        completed.append(rescore["rescore_id"])
    return completed


def movements(before: Board, after: Board) -> list[Movement]:
    old = {e.team_id: e for e in before.public}
    new = {e.team_id: e for e in after.public}
    lines = []
    for team_id in sorted(old.keys() | new.keys(), key=lambda t: (new[t].rank if t in new else 10**9, t)):
        was, now = old.get(team_id), new.get(team_id)
        named = now or old[team_id]  # the team is on one board at least
        lines.append(Movement(
            team_id=team_id, team_name=named.team_name, old_rank=was.rank if was else None,
            new_rank=now.rank if now else None, old_score=was.score if was else None,
            new_score=now.score if now else None))
    return lines


def affected_tasks(changed: Iterable[str], tasks: Iterable[Task]) -> list[Task]:
    changed = set(changed)
    return [t for t in tasks if t.id in changed]
