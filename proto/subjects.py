"""NATS subject names. Every id placed in a subject must be a single, safe subject token."""

from __future__ import annotations

import re

# A subject token may not contain `.` (separator), `*`/`>` (wildcards) or whitespace; we are stricter.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class InvalidSubjectToken(ValueError):
    pass


def token(value: str) -> str:
    """Return `value` if it can stand as one subject token, else raise (never build a wildcard by accident)."""
    if not _TOKEN.fullmatch(value):
        raise InvalidSubjectToken(f"{value!r} is not a valid subject token (letters, digits, '_' and '-' only)")
    return value


# Persisted (JetStream) subjects.
SUBMISSIONS_ALL = "submission.>"
SCORES_ALL = "score.>"
TEAMS_ALL = "team.>"
QA_ALL = "qa.>"
BOARD_ALL = "board.>"
COMPETITION_ALL = "competition.>"
COMPETITION_CHANGED = "competition.changed"
BOARD_TEAM_STANDING = "board.team.standing"
BOARD_PRIVATE_REVEALED = "board.private.revealed"
BOARD_FINALS_SELECTED = "board.finals.selected"

RESCORE_REQUESTED = "submission.rescore.requested"
TEAM_CREATED = "team.created"
TEAM_UPDATED = "team.updated"
TEAM_DELETED = "team.deleted"


def submission_received(kind: str, task_id: str) -> str:
    return f"submission.received.{token(kind)}.{token(task_id)}"


def submission_received_all(kind: str) -> str:
    """What a scorer pool consumes: every task of its kind."""
    return f"submission.received.{token(kind)}.>"


def submission_rejected(task_id: str) -> str:
    return f"submission.rejected.{token(task_id)}"


def score_computed(task_id: str) -> str:
    return f"score.computed.{token(task_id)}"


def qa_question(change: str) -> str:
    return f"qa.question.{token(change)}"


def score_failed(task_id: str) -> str:
    return f"score.failed.{token(task_id)}"


def score_cancelled(task_id: str) -> str:
    return f"score.cancelled.{token(task_id)}"


# Core NATS subjects: live, not persisted, never replayed.
def job_progress(submission_id: str) -> str:
    return f"job.progress.{token(submission_id)}"


def job_log(submission_id: str) -> str:
    return f"job.log.{token(submission_id)}"


def leaderboard_updated(task_id: str) -> str:
    return f"leaderboard.updated.{token(task_id)}"


def health(service: str) -> str:
    """Request/reply health probe every service answers (besides its HTTP `/health`)."""
    return f"podium.health.{token(service)}"
