"""MLS-GOAT's anonymous status of a submission: the status id is `<id>-<key>` and nothing else opens it; the answer
holds the public score only once scored, the model's speed, and never a private value or a reason naming someone."""

from __future__ import annotations

import json

import pytest

from submission_service.public_status import key_matches, new_key, parse_status_id, public_status, status_id


def row(**fields: object) -> dict[str, object]:
    base = {"status": "scored", "public_score": 0.91, "private_score": 0.87, "reason": None, "size_bytes": 2 * 2**20,
            "requested_batch_size": 8, "scoring_ms": 1500.0, "team_id": 42,
            "metrics": json.dumps({"accuracy_public": 0.91, "accuracy_private": 0.87, "macro_f1_public": 0.9,
                                   "throughput_samples_per_s": 1234.5, "latency_p50_ms": 3.2})}
    return {**base, **fields}


def test_a_status_id_round_trips_and_only_its_own_key_matches() -> None:
    key = new_key()
    assert parse_status_id(status_id(57, key)) == (57, key)
    assert key_matches(key, key) and not key_matches(key, new_key()) and not key_matches(None, key)
    assert len({new_key() for _ in range(100)}) == 100


@pytest.mark.parametrize("text", ["57", "57-", "-key", "x7-key", "١٢-key", "9" * 19 + "-key", ""])
def test_anything_else_is_no_status_id(text: str) -> None:
    assert parse_status_id(text) is None


def test_a_scored_model_shows_its_public_score_and_speed_only() -> None:
    shown = public_status(row(), None, 3)
    assert (shown.status, shown.public_score, shown.error, shown.queue_length) == ("scored", 0.91, None, 3)
    assert (shown.throughput_samples_per_s, shown.latency_p50_ms, shown.scoring_s, shown.batch_size) == (
        1234.5, 3.2, 1.5, 8)
    text = repr(shown)
    assert "0.87" not in text and "private" not in text and "42" not in text and "0.9," not in text


def test_before_its_score_there_is_no_score_and_a_queued_one_has_its_place() -> None:
    shown = public_status(row(status="received", public_score=None, metrics="{}", scoring_ms=None), 2, 5)
    assert (shown.status, shown.public_score, shown.queue_position, shown.scoring_s) == ("received", None, 2, None)


@pytest.mark.parametrize(("status", "reason", "error"), [
    ("failed", "the model's output has shape [1, 3]", "the model's output has shape [1, 3]"),
    ("rejected", "the upload is 10 bytes, but 12 were announced", "the upload is 10 bytes, but 12 were announced"),
    ("cancelled", "cancelled by the team (Alpha)", "the submission was cancelled, or withdrawn from the leaderboard "
                                                   "by the organisers"),
    ("cancelled", "withdrawn from the leaderboard by an admin (root)", "the submission was cancelled, or withdrawn "
                                                                       "from the leaderboard by the organisers"),
])
def test_an_unscored_end_says_why_without_naming_anyone(status: str, reason: str, error: str) -> None:
    shown = public_status(row(status=status, reason=reason), None, 0)
    assert (shown.public_score, shown.error) == (None, error)
