"""MLS-GOAT's anonymous status of a submission (`GET /submit/task2/status/{id}`): what anyone holding its status id may
read. The id is `<submission id>-<key>`, and only the submitter received the key (ids alone, a sequence, could be
enumerated). The answer carries no more than the team's own public view: the state, the public score, how the model
ran — never a private value, never the team, never a reason that names someone."""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

import asyncpg

from proto.submissions import PublicStatus

# Reasons that name who acted (the team or the admin): a fixed text instead.
_NAMELESS_REASONS = {"cancelled": "the submission was cancelled, or withdrawn from the leaderboard by the organisers"}
# Statuses that end without a (counted) score, whose reason the caller reads as the error.
_UNSCORED = frozenset({"failed", "rejected", "expired", "cancelled"})
# How the model ran: these metrics only (public-split quality metrics are not on the public board, so not here).
_SPEED_METRICS = ("throughput_samples_per_s", "latency_p50_ms")


def new_key() -> str:
    return secrets.token_urlsafe(18)


def status_id(submission_id: int, key: str) -> str:
    return f"{submission_id}-{key}"


def parse_status_id(value: str) -> tuple[int, str] | None:
    """The submission id and key in a status id, or None when it is not one."""
    number, _, key = value.partition("-")
    if not (number.isascii() and number.isdigit() and len(number) <= 18 and key):
        return None
    return int(number), key


def key_matches(stored: str | None, given: str) -> bool:
    return stored is not None and hmac.compare_digest(stored.encode(), given.encode())


def public_status(row: asyncpg.Record | Mapping[str, Any], queue_position: int | None, queue_length: int
                  ) -> PublicStatus:
    status = row["status"]
    metrics = json.loads(row["metrics"]) if isinstance(row["metrics"], str) else dict(row["metrics"] or {})
    speed = {name: float(metrics[name]) for name in _SPEED_METRICS if isinstance(metrics.get(name), int | float)}
    error = None
    if status in _UNSCORED:
        error = _NAMELESS_REASONS.get(status) or row["reason"] or f"the submission {status}"
    scored = status == "scored"
    return PublicStatus(
        status=status, public_score=row["public_score"] if scored else None, error=error,
        queue_position=queue_position, queue_length=queue_length, size_bytes=row["size_bytes"],
        batch_size=row["requested_batch_size"],
        scoring_s=row["scoring_ms"] / 1000 if scored and row["scoring_ms"] is not None else None, **speed,
    )
