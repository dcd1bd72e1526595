"""What a refusal of a participant's submission looks like from outside the scorer (Podium issue 16, item 5): the
submission ends `failed` on its first delivery — the scorer refused it once and never retried it, its one outcome
is the participant's (not the platform's), and — no score, so it does not count — its quota is given back."""

from __future__ import annotations

import json

import asyncpg

from tests.conftest import ScoringServices

REFUSED = "submission refused"  # podium_runtime.jobs logs each refusal (one per delivery) ...
RETRIED = "scoring failed on our side; retrying"  # ... and each failure it hands back for a retry


def scorer_messages(services: ScoringServices, scorer: str, submission_id: int) -> list[str]:
    """The scorer's JSON log records about one submission (other output, such as console spans, is skipped)."""
    messages = []
    for line in services.log(scorer).splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("submission_id") == str(submission_id):
            messages.append(record.get("message"))
    return messages


async def assert_refused_once(pg_pool: asyncpg.Pool, services: ScoringServices, scorer: str, submission_id: int
                              ) -> None:
    messages = scorer_messages(services, scorer, submission_id)
    assert messages.count(REFUSED) == 1 and RETRIED not in messages, messages
    outcomes = await pg_pool.fetch(
        "SELECT outcome, infrastructure FROM submissions.scores WHERE submission_id = $1", submission_id)
    assert [tuple(row) for row in outcomes] == [("failed", False)]
    refunded = await pg_pool.fetchval("SELECT quota_refunded FROM submissions.submissions WHERE id = $1",
                                      submission_id)
    assert refunded is True  # only scored submissions count (submission_service.store.QUOTA_RULE)
