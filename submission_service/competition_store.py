"""The competition's versions and the hosts' ground-truth and program uploads in the `submissions` schema, and what the
definition needs to know of the submissions (which tasks have some, how many scores are stale)."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg
import msgspec

from podium_runtime.connections import PgConnection
from proto.competition import EMPTY, Competition, CompetitionVersion
from proto.events import CompetitionChanged
from submission_service.store import outbox

_decode_competition = msgspec.json.Decoder(Competition)
# One writer of a new version at a time (every replica): a transaction-scoped advisory lock.
_LOCK = 0x70_6F_64_69_75_6D  # "podium"


def _version(row: asyncpg.Record) -> CompetitionVersion:
    return CompetitionVersion(version=row["version"], competition=_decode_competition.decode(row["document"]),
                              created_at=row["created_at"], created_by=row["created_by"],
                              changes=tuple(json.loads(row["changes"])))


async def current(conn: PgConnection, *, lock: bool = False) -> CompetitionVersion:
    """The current version (EMPTY when there is none yet); `lock`: hold the writers' lock until the transaction ends."""
    if lock:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
    row = await conn.fetchrow("SELECT * FROM submissions.competition_versions ORDER BY version DESC LIMIT 1")
    return EMPTY if row is None else _version(row)


async def version(conn: PgConnection, number: int) -> CompetitionVersion | None:
    row = await conn.fetchrow("SELECT * FROM submissions.competition_versions WHERE version = $1", number)
    return None if row is None else _version(row)


async def history(conn: PgConnection, limit: int = 500) -> list[CompetitionVersion]:
    rows = await conn.fetch("SELECT * FROM submissions.competition_versions ORDER BY version DESC LIMIT $1", limit)
    return [_version(row) for row in rows]


async def add_version(conn: PgConnection, competition: Competition, *, created_by: str, changes: list[str],
                      identity_changed: list[str], after: int) -> CompetitionVersion:
    """Record the version after `after` and its CompetitionChanged event, in the caller's transaction (which holds
    the writers' lock: `current(conn, lock=True)`)."""
    row = await conn.fetchrow(
        "INSERT INTO submissions.competition_versions (version, document, created_by, changes) "
        "VALUES ($1, $2::jsonb, $3, $4::jsonb) RETURNING *",
        after + 1, msgspec.json.encode(competition).decode(), created_by, json.dumps(changes))
    assert row is not None  # INSERT ... RETURNING without a conflict clause returns its row (or raises)
    await outbox.add(conn, CompetitionChanged(version=after + 1, changed_by=created_by, changes=tuple(changes),
                                              identity_changed=tuple(identity_changed),
                                              correlation_id=f"competition:{after + 1}"))
    return _version(row)


async def tasks_with_submissions(conn: PgConnection, task_ids: list[str]) -> list[str]:
    rows = await conn.fetch("SELECT DISTINCT task_id FROM submissions.submissions WHERE task_id = ANY($1::text[])",
                            task_ids)
    return sorted(row["task_id"] for row in rows)


async def stale_counts(conn: PgConnection, identities: dict[str, str]) -> dict[str, int]:
    """Per task (id → its identity now): its scored submissions without a score computed under that identity."""
    if not identities:
        return {}
    rows = await conn.fetch(
        """SELECT s.task_id, count(*) AS stale FROM submissions.submissions s
           JOIN unnest($1::text[], $2::text[]) AS t(task_id, identity) ON t.task_id = s.task_id
           WHERE s.status = 'scored' AND NOT EXISTS (
               SELECT 1 FROM submissions.scores c WHERE c.submission_id = s.id AND c.outcome = 'computed'
               AND c.identity = t.identity)
           GROUP BY s.task_id""",
        list(identities), list(identities.values()))
    return {task_id: 0 for task_id in identities} | {row["task_id"]: row["stale"] for row in rows}


async def add_upload(conn: PgConnection, *, upload_id: str, task_id: str, staging_key: str, size_bytes: int,
                     sha256: str, started_by: str, expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO submissions.ground_truth_uploads (id, task_id, staging_key, size_bytes, sha256, started_by, "
        "expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        upload_id, task_id, staging_key, size_bytes, sha256, started_by, expires_at)


async def upload(conn: PgConnection, upload_id: str, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT * FROM submissions.ground_truth_uploads WHERE id = $1{lock}", upload_id)


async def finish_upload(conn: PgConnection, upload_id: str) -> None:
    await conn.execute("UPDATE submissions.ground_truth_uploads SET completed_at = now() WHERE id = $1", upload_id)


async def add_program_upload(conn: PgConnection, *, upload_id: str, task_id: str, filename: str, staging_key: str,
                             size_bytes: int, sha256: str, sample_filename: str, sample_key: str,
                             sample_size_bytes: int, sample_sha256: str, started_by: str,
                             expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO submissions.program_uploads (id, task_id, filename, staging_key, size_bytes, sha256, "
        "sample_filename, sample_key, sample_size_bytes, sample_sha256, started_by, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        upload_id, task_id, filename, staging_key, size_bytes, sha256, sample_filename, sample_key,
        sample_size_bytes, sample_sha256, started_by, expires_at)


async def program_upload(conn: PgConnection, upload_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM submissions.program_uploads WHERE id = $1", upload_id)


async def finish_program_upload(conn: PgConnection, upload_id: str) -> bool:
    """Mark the upload completed; False when it was already (a concurrent `complete` won)."""
    done = await conn.fetchval("UPDATE submissions.program_uploads SET completed_at = now() "
                               "WHERE id = $1 AND completed_at IS NULL RETURNING id", upload_id)
    return done is not None
