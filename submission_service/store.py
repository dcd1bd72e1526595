"""The `submissions` schema: creating a submission under its daily quota, accepting its upload with the
SubmissionReceived event in the same transaction, recording score outcomes, refunds and views."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import asyncpg
import msgspec

from podium_runtime.connections import PgConnection
from podium_runtime.outbox import Outbox
from proto.competition import Task
from proto.events import (
    JobLogged,
    RescoreRequested,
    ScoreComputed,
    ScoreFailed,
    SubmissionCancelled,
    SubmissionReceived,
    SubmissionRejected,
)
from proto.storage import SUBMISSIONS_BUCKET
from proto.submissions import SubmissionView

SCHEMA = "submissions"
outbox = Outbox(SCHEMA)
# The uploads and the accepted submissions; where the scorers write each score's details (per-sample values,
# confusion matrix, ROC points).
BUCKET = SUBMISSIONS_BUCKET
# Which submissions count against the daily quota, in the words the page shows beside the upload.
QUOTA_RULE = ("Only scored submissions count against the daily quota: one that fails or is refused, expires or "
              "is cancelled gives its slot back.")
# Where accepted uploads are copied to (the scorers read them there).
ACCEPTED_PREFIX = "accepted/"

_COLUMNS = """id, team_id, task_id, phase_id, kind, filename, object_key, status, scorer_version, declared_size,
    declared_sha256, size_bytes, sha256, public_score, private_score, metrics, details_key, reason, quota_day,
    quota_refunded, upload_expires_at, republished, created_at, received_at, scored_at, updated_at, cancelled_by,
    scoring_started_at, upload_key, requested_batch_size, status_key, scoring_ms, competition_version"""


async def unswept_uploads(conn: PgConnection, grace: timedelta, limit: int = 500) -> list[asyncpg.Record]:
    """Upload keys whose URL has expired (plus `grace`) and whose object was not removed yet: whatever was written
    there (an expired or cancelled upload, a PUT after `complete`) is never read and goes."""
    return await conn.fetch(
        "SELECT id, upload_key FROM submissions.submissions WHERE NOT upload_swept AND upload_key <> object_key "
        "AND upload_expires_at < now() - $1::interval ORDER BY upload_expires_at LIMIT $2",
        grace, limit)


async def mark_swept(conn: PgConnection, submission_ids: list[int]) -> None:
    await conn.execute("UPDATE submissions.submissions SET upload_swept = true WHERE id = ANY($1::bigint[])",
                       submission_ids)


async def expire_uploads(conn: PgConnection, grace: timedelta) -> int:
    """Uploads not completed before their URL expired (plus `grace`) end `expired`, their quota given back;
    returns how many. Rows another pass holds are skipped (the next pass takes them)."""
    expired = await conn.fetch(
        "SELECT id, team_id, task_id, quota_day FROM submissions.submissions "
        "WHERE status = 'awaiting_upload' AND upload_expires_at < now() - $1::interval FOR UPDATE SKIP LOCKED",
        grace,
    )
    for row in expired:
        await conn.execute(
            "UPDATE submissions.submissions SET status = 'expired', updated_at = now(), "
            "reason = 'the upload was not completed before its URL expired' WHERE id = $1", row["id"])
        await refund_quota(conn, row)
    return len(expired)


async def stuck(conn: PgConnection, stuck_after: timedelta) -> list[asyncpg.Record]:
    """Accepted submissions without an outcome whose status has not moved for `stuck_after`, locked."""
    return await conn.fetch(
        "SELECT * FROM submissions.submissions WHERE status IN ('received', 'scoring') "
        "AND updated_at < now() - $1::interval FOR UPDATE SKIP LOCKED",
        stuck_after,
    )


async def count_republish(conn: PgConnection, submission_id: int) -> None:
    await conn.execute(
        "UPDATE submissions.submissions SET republished = republished + 1, updated_at = now() WHERE id = $1",
        submission_id)


async def in_flight(conn: PgConnection) -> list[asyncpg.Record]:
    """Every accepted submission without an outcome yet, oldest first."""
    return await conn.fetch(
        "SELECT * FROM submissions.submissions WHERE status IN ('received', 'scoring') ORDER BY id")


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


async def take_quota(conn: PgConnection, team_id: int, task: Task, day: date) -> int | None:
    """Count one submission against the team's quota for the day; None when the quota is used up.

    One upsert: concurrent submits of one team serialize on the row, so exactly `daily_quota` succeed."""
    return await conn.fetchval(
        """INSERT INTO submissions.quota_usage AS q (team_id, task_id, day, used) VALUES ($1, $2, $3, 1)
           ON CONFLICT (team_id, task_id, day) DO UPDATE SET used = q.used + 1 WHERE q.used < $4
           RETURNING used""",
        team_id, task.id, day, task.daily_quota,
    )


async def quota_used(conn: PgConnection, team_id: int, task_id: str, day: date) -> int:
    """Submissions of a team to a task counted against one day's quota (refunded ones are not)."""
    used = await conn.fetchval(
        "SELECT used FROM submissions.quota_usage WHERE team_id = $1 AND task_id = $2 AND day = $3",
        team_id, task_id, day,
    )
    return used or 0


async def quota_used_by_task(conn: PgConnection, team_id: int, day: date) -> dict[str, int]:
    """A team's submissions counted against one day's quota, per task."""
    rows = await conn.fetch("SELECT task_id, used FROM submissions.quota_usage WHERE team_id = $1 AND day = $2",
                            team_id, day)
    return {row["task_id"]: row["used"] for row in rows}


async def refund_quota(conn: PgConnection, row: asyncpg.Record) -> bool:
    """Give back the quota a submission took (once); returns whether it was refunded now."""
    refunded = await conn.fetchval(
        "UPDATE submissions.submissions SET quota_refunded = true WHERE id = $1 AND NOT quota_refunded RETURNING id",
        row["id"],
    )
    if refunded is None:
        return False
    await conn.execute(
        "UPDATE submissions.quota_usage SET used = used - 1 WHERE team_id = $1 AND task_id = $2 AND day = $3 "
        "AND used > 0",
        row["team_id"], row["task_id"], row["quota_day"],
    )
    return True


async def create(
    conn: PgConnection, *, team_id: int, task: Task, phase_id: str, filename: str, declared_size: int,
    declared_sha256: str, day: date, expires_at: datetime, extension: str, status_key: str, competition_version: int,
    batch_size: int | None = None,
) -> asyncpg.Record:
    submission_id = await conn.fetchval(
        "SELECT nextval(pg_get_serial_sequence('submissions.submissions', 'id'))"
    )
    # The server fixes the keys: nothing the participant sends becomes part of a storage path. The upload URL
    # writes `upload_key`; the accepted bytes live at `object_key`, which no URL can write.
    upload_key = f"{task.id}/{team_id}/{submission_id}{extension}"
    object_key = f"{ACCEPTED_PREFIX}{upload_key}"
    created = await conn.fetchrow(
        f"""INSERT INTO submissions.submissions (id, team_id, task_id, phase_id, kind, filename, object_key, status,
                scorer_version, declared_size, declared_sha256, quota_day, upload_expires_at, upload_key, status_key,
                requested_batch_size, competition_version)
            OVERRIDING SYSTEM VALUE
            VALUES ($1, $2, $3, $4, $5, $6, $7, 'awaiting_upload', $8, $9, $10, $11, $12, $13, $14, $15, $16)
            RETURNING {_COLUMNS}""",
        submission_id, team_id, task.id, phase_id, task.kind, filename, object_key, task.scorer_version,
        declared_size, declared_sha256, day, expires_at, upload_key, status_key, batch_size, competition_version,
    )
    assert created is not None  # INSERT ... RETURNING without a conflict clause returns its row (or raises)
    return created


async def by_id(conn: PgConnection, submission_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM submissions.submissions WHERE id = $1{lock}", submission_id)


async def list_for_team(conn: PgConnection, team_id: int, task_id: str, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_COLUMNS} FROM submissions.submissions WHERE team_id = $1 AND ($2 = '' OR task_id = $2) "
        "ORDER BY created_at DESC, id DESC LIMIT $3",
        team_id, task_id, limit,
    )


async def list_all(conn: PgConnection, task_id: str, skip: int, limit: int) -> list[asyncpg.Record]:
    """Every team's submissions (an admin's view), newest first."""
    return await conn.fetch(
        f"SELECT {_COLUMNS} FROM submissions.submissions WHERE ($1 = '' OR task_id = $1) "
        "ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT $3",
        task_id, skip, limit,
    )


async def mark_scoring(conn: PgConnection, submission_id: int) -> asyncpg.Record | None:
    """A scorer started on a queued submission (its first progress): None when it was not queued (any more)."""
    return await conn.fetchrow(
        "UPDATE submissions.submissions SET status = 'scoring', scoring_started_at = now(), updated_at = now() "
        "WHERE id = $1 AND status = 'received' RETURNING id, team_id, status, kind",
        submission_id,
    )


async def rescore_candidates(conn: PgConnection, task_id: str, submitted_after: datetime | None,
                             submitted_before: datetime | None, submission_ids: list[int]) -> list[asyncpg.Record]:
    """A task's submissions with an outcome (scored or failed) received in the range (and among the ids, if any)."""
    return await conn.fetch(
        """SELECT * FROM submissions.submissions WHERE task_id = $1 AND status IN ('scored', 'failed')
           AND received_at IS NOT NULL
           AND ($2::timestamptz IS NULL OR received_at >= $2) AND ($3::timestamptz IS NULL OR received_at < $3)
           AND (cardinality($4::bigint[]) = 0 OR id = ANY($4::bigint[])) ORDER BY id""",
        task_id, submitted_after, submitted_before, submission_ids,
    )


async def add_rescore(conn: PgConnection, requested: RescoreRequested, rows: list[asyncpg.Record],
                      competition_version: int) -> bool:
    """Record the rescore and publish it through the outbox with each of its submissions again under its scorer
    version (and the competition version in use now), in the caller's transaction; False (nothing written) when an
    earlier rescore used that version."""
    try:
        async with conn.transaction():  # a savepoint: the caller's transaction stays usable
            await conn.execute(
                "INSERT INTO submissions.rescores (id, task_id, scorer_version, requested_by, submission_ids) "
                "VALUES ($1, $2, $3, $4, $5)",
                requested.rescore_id, requested.task_id, requested.scorer_version, requested.requested_by,
                [r["id"] for r in rows])
    except asyncpg.UniqueViolationError:
        return False
    await outbox.add(conn, requested)
    for row in rows:
        await outbox.add(conn, msgspec.structs.replace(received_event(row), scorer_version=requested.scorer_version,
                                                       rescore_id=requested.rescore_id,
                                                       competition_version=competition_version))
    return True


def received_event(row: asyncpg.Record) -> SubmissionReceived:
    return SubmissionReceived(
        submission_id=str(row["id"]), team_id=str(row["team_id"]), task_id=row["task_id"], kind=row["kind"],
        object_key=row["object_key"], sha256=row["sha256"], size_bytes=row["size_bytes"],
        submitted_at=row["received_at"], scorer_version=row["scorer_version"], phase_id=row["phase_id"],
        correlation_id=f"submission:{row['id']}", competition_version=row["competition_version"],
    )


async def accept(conn: PgConnection, row: asyncpg.Record, size: int, sha256: str) -> asyncpg.Record:
    """Mark the upload received and emit SubmissionReceived through the outbox, in the caller's transaction."""
    accepted = await conn.fetchrow(
        f"""UPDATE submissions.submissions SET status = 'received', size_bytes = $2, sha256 = $3,
                received_at = now(), updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}""",
        row["id"], size, sha256,
    )
    assert accepted is not None  # the caller holds the row locked (`by_id(..., for_update=True)`): it is there
    await outbox.add(conn, received_event(accepted))
    return accepted


async def reject(conn: PgConnection, row: asyncpg.Record, reason: str) -> asyncpg.Record:
    """Refuse an upload before scoring, and say so on the SUBMISSIONS stream (stats and audit read it there)."""
    rejected = await set_status(conn, row, "rejected", reason)
    await refund_quota(conn, rejected)  # QUOTA_RULE: a submission without a score does not count
    await outbox.add(conn, SubmissionRejected(
        submission_id=str(row["id"]), team_id=str(row["team_id"]), task_id=row["task_id"], reason=reason))
    return rejected


async def cancel(conn: PgConnection, row: asyncpg.Record, actor: str, by_admin: bool) -> asyncpg.Record:
    """Cancel a submission that has no outcome yet: its status, its quota back, and SubmissionCancelled (on the
    SCORES stream) through the outbox — all in the caller's transaction."""
    cancelled = await conn.fetchrow(
        f"""UPDATE submissions.submissions SET status = 'cancelled', cancelled_by = $2, reason = $3,
                scored_at = now(), updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}""",
        row["id"], actor, f"cancelled by {'an admin' if by_admin else 'the team'} ({actor})",
    )
    assert cancelled is not None  # the caller holds the row locked (`by_id(..., for_update=True)`): it is there
    await refund_quota(conn, cancelled)
    await outbox.add(conn, SubmissionCancelled(
        submission_id=str(row["id"]), team_id=str(row["team_id"]), task_id=row["task_id"],
        scorer_version=row["scorer_version"], cancelled_by=actor, by_admin=by_admin, phase_id=row["phase_id"]))
    return cancelled


async def withdraw(conn: PgConnection, row: asyncpg.Record, actor: str) -> asyncpg.Record:
    """Take a scored submission off the boards: status `cancelled`, the reason saying it was withdrawn (its scores
    kept, for the record), and SubmissionCancelled(withdrawn=True) on the SCORES stream through the outbox, so the
    leaderboard drops the score and a rebuild does the same, in the stream's order. The quota it used stays used:
    withdrawing is no second try."""
    withdrawn = await conn.fetchrow(
        f"""UPDATE submissions.submissions SET status = 'cancelled', cancelled_by = $2, reason = $3,
                updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}""",
        row["id"], actor, f"withdrawn from the leaderboard by an admin ({actor})",
    )
    assert withdrawn is not None  # the caller holds the row locked (`by_id(..., for_update=True)`): it is there
    await outbox.add(conn, SubmissionCancelled(
        submission_id=str(row["id"]), team_id=str(row["team_id"]), task_id=row["task_id"],
        scorer_version=row["scorer_version"], cancelled_by=actor, by_admin=True, phase_id=row["phase_id"],
        withdrawn=True))
    return withdrawn


async def set_status(conn: PgConnection, row: asyncpg.Record, status: str, reason: str | None = None
                     ) -> asyncpg.Record:
    """`row`'s submission with its new status; the caller holds the row locked (`by_id(..., for_update=True)`)."""
    updated = await conn.fetchrow(
        f"UPDATE submissions.submissions SET status = $2, reason = coalesce($3, reason), updated_at = now() "
        f"WHERE id = $1 RETURNING {_COLUMNS}",
        row["id"], status, reason,
    )
    assert updated is not None  # the row is locked by the caller's transaction, so it is still there
    return updated


async def record_outcome(conn: PgConnection, event: ScoreComputed | ScoreFailed) -> asyncpg.Record | None:
    """Apply a score event once: store it by version, and update the submission when it is the version the
    submission awaits. Returns the updated submission, or None for a repeat or another version."""
    computed = isinstance(event, ScoreComputed)
    submission_id = int(event.submission_id)
    inserted = await conn.fetchval(
        """INSERT INTO submissions.scores (submission_id, scorer_version, outcome, public_score, private_score,
               metrics, details_key, reason, infrastructure, competition_version, identity, ground_truth_sha256)
           SELECT $1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12 WHERE EXISTS
               (SELECT 1 FROM submissions.submissions WHERE id = $1)
           ON CONFLICT (submission_id, scorer_version) DO NOTHING RETURNING submission_id""",
        submission_id, event.scorer_version, "computed" if computed else "failed",
        event.public_score if computed else None, event.private_score if computed else None,
        json.dumps(event.metrics if computed else {}), event.details_key if computed else None,
        None if computed else event.reason, (not computed) and event.infrastructure,
        event.competition_version if computed else 0, event.identity if computed else "",
        event.ground_truth_sha256 if computed else "",
    )
    if inserted is None:
        return None
    row = await by_id(conn, submission_id, for_update=True)
    if row is None or row["scorer_version"] != event.scorer_version or row["status"] not in ("received", "scoring"):
        return None
    if computed:
        return await conn.fetchrow(
            f"""UPDATE submissions.submissions SET status = 'scored', public_score = $2, private_score = $3,
                    metrics = $4::jsonb, details_key = $5, scoring_ms = $6, scored_at = now(), updated_at = now()
                WHERE id = $1 RETURNING {_COLUMNS}""",
            submission_id, event.public_score, event.private_score, json.dumps(event.metrics), event.details_key,
            event.durations_ms.get("total"),
        )
    failed = await conn.fetchrow(
        f"""UPDATE submissions.submissions SET status = 'failed', reason = $2, scored_at = now(), updated_at = now()
            WHERE id = $1 RETURNING {_COLUMNS}""",
        submission_id, event.reason,
    )
    assert failed is not None  # locked above (`by_id(..., for_update=True)`) in this transaction: it is there
    # QUOTA_RULE: a failed submission does not count, whichever side it failed on (Kaggle's convention).
    await refund_quota(conn, failed)
    return failed


async def unfinished(conn: PgConnection) -> tuple[dict[str, int], float]:
    """Submissions received and not yet scored or failed, by status, and the oldest one's age in seconds."""
    rows = await conn.fetch(
        "SELECT status, count(*) AS n, extract(epoch FROM now() - min(received_at)) AS age "
        "FROM submissions.submissions WHERE status IN ('received', 'scoring') GROUP BY status")
    counts = {"received": 0, "scoring": 0} | {row["status"]: row["n"] for row in rows}
    return counts, max((float(row["age"] or 0) for row in rows), default=0.0)


# Lines kept per submission: the last ones (a scorer that loops on a warning must not fill the database).
KEPT_LOG_LINES = 500


async def add_log_line(conn: PgConnection, event: JobLogged) -> None:
    """Keep one log line of an existing submission, and only its last KEPT_LOG_LINES."""
    await conn.execute(
        """INSERT INTO submissions.job_logs (submission_id, logged_at, level, line, host_only)
           SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM submissions.submissions WHERE id = $1)""",
        int(event.submission_id), event.occurred_at, event.level, event.line, event.host_only)
    await conn.execute(
        """DELETE FROM submissions.job_logs WHERE submission_id = $1 AND id < (
               SELECT id FROM submissions.job_logs WHERE submission_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1)""",
        int(event.submission_id), KEPT_LOG_LINES - 1)


async def log_lines(conn: PgConnection, submission_id: int, *, host: bool) -> list[asyncpg.Record]:
    """A submission's kept log lines; those for the host only (a program's output) only when `host`."""
    return await conn.fetch(
        "SELECT logged_at, level, line, host_only FROM submissions.job_logs WHERE submission_id = $1 "
        "AND (NOT host_only OR $2) ORDER BY id",
        submission_id, host)


async def queued(conn: PgConnection, kind: str) -> list[asyncpg.Record]:
    """A scorer pool's accepted submissions not yet being scored, in the order JetStream delivers them."""
    return await conn.fetch(
        "SELECT id, team_id FROM submissions.submissions WHERE kind = $1 AND status = 'received' ORDER BY id", kind)


async def scoring_pace(conn: PgConnection, kind: str) -> asyncpg.Record:
    """How fast a pool works: mean scoring seconds of its last 20 scored submissions (as the scorer measured
    them, from delivery to outcome), outcomes in the last 5 and 15 minutes."""
    pace = await conn.fetchrow(
        """SELECT (SELECT avg(scoring_ms) / 1000 FROM (
                       SELECT scoring_ms FROM submissions.submissions
                       WHERE kind = $1 AND status = 'scored' AND scoring_ms IS NOT NULL
                       ORDER BY scored_at DESC LIMIT 20) recent) AS average_s,
                  count(*) FILTER (WHERE scored_at > now() - interval '5 minutes') AS last_5_min,
                  count(*) FILTER (WHERE scored_at > now() - interval '15 minutes') AS last_15_min
           FROM submissions.submissions WHERE kind = $1 AND status IN ('scored', 'failed')
             AND scored_at > now() - interval '15 minutes'""",
        kind)
    assert pace is not None  # an aggregate without GROUP BY always returns its one row
    return pace


async def stats(conn: PgConnection) -> dict[str, object]:
    """Counts by status and task, per hour, failure reasons ranked, and scoring-time percentiles."""
    by_task_rows = await conn.fetch(
        "SELECT task_id, status, count(*) AS n FROM submissions.submissions GROUP BY task_id, status")
    by_task: dict[str, dict[str, int]] = {}
    by_status: dict[str, int] = {}
    for row in by_task_rows:
        by_task.setdefault(row["task_id"], {})[row["status"]] = row["n"]
        by_status[row["status"]] = by_status.get(row["status"], 0) + row["n"]
    per_hour = await conn.fetch(
        """SELECT to_char(h.hour AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:00:00"Z"') AS key,
                  count(s.id) AS count
           FROM generate_series(date_trunc('hour', now()) - interval '23 hours', date_trunc('hour', now()),
                                interval '1 hour') AS h(hour)
           LEFT JOIN submissions.submissions s ON date_trunc('hour', s.created_at) = h.hour
           GROUP BY h.hour ORDER BY h.hour""")
    reasons = await conn.fetch(
        """SELECT regexp_replace(reason, '[0-9]+', 'N', 'g') AS key, count(*) AS count
           FROM submissions.submissions WHERE status IN ('failed', 'rejected') AND reason IS NOT NULL
           GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20""")
    times = await conn.fetchrow(
        """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY scoring_ms) / 1000 AS median,
                  percentile_cont(0.95) WITHIN GROUP (ORDER BY scoring_ms) / 1000 AS p95
           FROM submissions.submissions WHERE status = 'scored' AND scoring_ms IS NOT NULL""")
    assert times is not None  # an aggregate without GROUP BY always returns its one row
    return {"submissions": sum(by_status.values()), "by_status": by_status, "by_task": by_task,
            "per_hour": [dict(r) for r in per_hour], "failure_reasons": [dict(r) for r in reasons],
            "scoring_time_median_s": times["median"], "scoring_time_p95_s": times["p95"]}


def view(row: asyncpg.Record, position: int | None = None, eta_s: float | None = None) -> SubmissionView:
    metrics = json.loads(row["metrics"]) if isinstance(row["metrics"], str) else dict(row["metrics"] or {})
    details = {"status": row["status"], "score": row["public_score"], **metrics}
    if row["requested_batch_size"] is not None:
        details["requested_batch_size"] = row["requested_batch_size"]
    if row["reason"]:
        details["error"] = row["reason"]
    return SubmissionView(
        id=row["id"], team_id=row["team_id"], task_id=row["task_id"], phase_id=row["phase_id"],
        filename=row["filename"], status=row["status"], scorer_version=row["scorer_version"],
        public_score=row["public_score"], private_score=row["private_score"], reason=row["reason"],
        size_bytes=row["size_bytes"], sha256=row["sha256"], timestamp=row["created_at"], scored_at=row["scored_at"],
        metrics=metrics, details=json.dumps(details), queue_position=position, eta_s=eta_s,
    )
